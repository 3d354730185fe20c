"""The ledger's queries: routes and runs, diff lookups, batch outcomes, retries, deletes.

Every method is one short transaction, called once per batch or window, never per record.
Opening the database, its schema and transactions are in `database`; remembered ids in
`remembered`.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection

from target_cdp.ledger import schema as s
from target_cdp.ledger.database import (
    SETTING,
    SQLITE_BUSY_TIMEOUT_MS,
    LedgerError,
    _chunks,
    _fetch,
    _one_line,
    parse_uri,
    shown,
    utc_now,
)
from target_cdp.ledger.remembered import RememberedIds

__all__ = [
    "SETTING",
    "SQLITE_BUSY_TIMEOUT_MS",
    "Delivered",
    "Known",
    "Ledger",
    "LedgerError",
    "parse_uri",
    "shown",
    "utc_now",
]

Delivered = tuple[str, str, str | None, bool, int | None]
"""A delivered key's row: record key, payload hash, delete values, deleted, version."""

CLAIM_LEASE_SECONDS = 15 * 60  # a claim older than this (its run died) may be taken over
ANALYZE_AFTER = 5_000  # rows written in a run
_ROWS_PER_INSERT = 500  # rows in one INSERT ... VALUES statement (SQLite)
_DELIVERED_UPDATES = ", ".join(
    f"{c} = excluded.{c}"
    for c in ("payload_hash", "delete_values", "deleted", "version", "delivered_at", "run_id")
)
_PG_UPSERT_DELIVERED = (
    "INSERT INTO cdp_delivered (route_id, delivered_at, run_id, record_key, payload_hash, "
    "delete_values, deleted, version) "
    "SELECT %s, %s, %s, k, h, dv, d, v "
    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::bool[], %s::bigint[]) "
    "AS t(k, h, dv, d, v) "
    f"ON CONFLICT (route_id, record_key) DO UPDATE SET {_DELIVERED_UPDATES}"
)


class Known:
    """What the ledger holds for one record key of a route."""

    __slots__ = ("deleted", "delivered_hash", "failure", "failure_hash", "version")

    def __init__(self, delivered_hash: str | None = None, deleted: bool = False,
                 version: int | None = None) -> None:  # fmt: skip
        self.delivered_hash = delivered_hash
        self.deleted = deleted
        self.version = version
        self.failure: str | None = None  # "pending" or "refused"
        self.failure_hash: str | None = None


class Ledger(RememberedIds):
    """One ledger database, used by every route of a run."""

    def __init__(self, url: URL, *, read_only: bool = False) -> None:
        super().__init__(url, read_only=read_only)
        self.token = uuid.uuid4().hex  # this run, in claims and run history
        self.failing: set[int] = set()  # routes with failure rows (lookups read them too)
        self.known: set[int] = set()  # routes with delivered rows when the run started
        self.written = 0  # rows this run upserted (a large run refreshes planner statistics)
        self._next_analyze = ANALYZE_AFTER

    # routes and runs ----------------------------------------------------------------
    @_one_line
    def route_ids(self, labels: Iterable[str]) -> dict[str, int | None]:
        """Each route's id, created when missing (read-only: None when missing)."""
        labels = list(dict.fromkeys(labels))
        if self.empty:
            return dict.fromkeys(labels)
        if not self.read_only:
            with self._write() as conn:
                for label in labels:
                    conn.execute(
                        self._upsert(s.routes, ["label"], {"label": label,
                                                          "created_at": utc_now()}, update=False)
                    )  # fmt: skip
        with self._read() as conn:
            rows = conn.execute(
                sa.select(s.routes.c.label, s.routes.c.id).where(s.routes.c.label.in_(labels))
            ).all()
            for _, rid in rows:  # an index probe each, whatever the tables' size
                for table, marks in ((s.failures, self.failing), (s.delivered, self.known)):
                    query = sa.select(table.c.route_id).where(table.c.route_id == rid).limit(1)
                    if conn.execute(query).first() is not None:
                        marks.add(rid)
        found = dict(rows)
        return {label: found.get(label) for label in labels}

    @_one_line
    def start_runs(self, route_ids: Iterable[int]) -> dict[int, int]:
        """One run-history row per route; returns route id -> run id."""
        if self.read_only:
            return {}
        out = {}
        host, pid, now = socket.gethostname(), os.getpid(), utc_now()
        with self._write() as conn:
            for rid in route_ids:
                result = conn.execute(
                    sa.insert(s.runs).values(
                        route_id=rid, run_token=self.token, host=host[:255], pid=pid,
                        started_at=now, status="running",
                    ).returning(s.runs.c.id)
                )  # fmt: skip
                out[rid] = int(result.scalar_one())
        return out

    @_one_line
    def finish_runs(self, results: Mapping[int, tuple[str, Mapping[str, int]]]) -> None:
        """Write each run's status and counts (run id -> (status, counts))."""
        if self.read_only or not results:
            return
        columns = set(s.runs.c.keys())
        now = utc_now()
        with self._write() as conn:
            for run_id, (status, counts) in results.items():
                values = {k: int(v) for k, v in counts.items() if k in columns}
                conn.execute(
                    sa.update(s.runs)
                    .where(s.runs.c.id == run_id)
                    .values(status=status, finished_at=now, **values)
                )
            conn.execute(  # claims this run still holds go back to the pool
                sa.update(s.failures)
                .where(s.failures.c.claimed_by == self.token)
                .values(claimed_by=None, claimed_at=None)
            )
        if self.written >= ANALYZE_AFTER:  # fresh statistics keep the next run's lookups fast
            self._analyze()

    # diffing ------------------------------------------------------------------------
    @_one_line
    def lookup(self, route_id: int | None, keys: Sequence[str]) -> dict[str, Known]:
        """What the ledger holds for these keys (one query per 900 keys, a second one only
        when the route has failure rows). Plain SQL: this runs once per 1,000 records."""
        if route_id is None or not keys or self.empty:
            return {}
        found: dict[str, Known] = {}
        failing = route_id in self.failing
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(keys))):
                where, params = self._keys_clause(route_id, chunk)
                result = _fetch(
                    conn,
                    "SELECT record_key, payload_hash, deleted, version FROM cdp_delivered "
                    f"WHERE {where}",
                    params,
                )
                for key, phash, deleted, version in result:
                    found[key] = Known(phash, bool(deleted), version)
                if not failing:
                    continue
                result = _fetch(
                    conn,
                    f"SELECT record_key, payload_hash, kind FROM cdp_failures WHERE {where}",
                    params,
                )
                for key, phash, kind in result:
                    known = found.get(key)
                    if known is None:
                        known = found[key] = Known()
                    known.failure, known.failure_hash = kind, phash
        return found

    def _keys_clause(self, route_id: int, keys: list[str]) -> tuple[str, tuple[Any, ...]]:
        """`route_id = ? AND record_key IN (...)` in the driver's own parameter style."""
        if self.dialect == "postgresql":
            return "route_id = %s AND record_key = ANY(%s)", (route_id, keys)
        marks = ",".join("?" * len(keys))
        return f"route_id = ? AND record_key IN ({marks})", (route_id, *keys)

    def _upsert_delivered(
        self, conn: Connection, route_id: int, run_id: int | None, rows: Sequence[Delivered]
    ) -> None:
        """Delivered keys in one statement a chunk. PostgreSQL: arrays through `unnest` (a
        handful of parameters whatever the rows: five times faster than a VALUES list)."""
        at = self._now_param()
        if self.dialect == "postgresql":
            columns = tuple(list(c) for c in zip(*rows, strict=True))  # key, hash, values, ...
            conn.exec_driver_sql(_PG_UPSERT_DELIVERED, (route_id, at, run_id, *columns))
            return
        # the usual row (no delete values, not a deletion, no version) as (key, hash) only:
        # binding a None or a boolean costs sqlite3 an adapter call a parameter
        plain = [row[:2] for row in rows if row[2] is None and not row[3] and row[4] is None]
        rest = (
            []
            if len(plain) == len(rows)
            else [row for row in rows if row[2] is not None or row[3] or row[4] is not None]
        )
        for part_rows, width in ((plain, 2), (rest, 5)):
            for start in range(0, len(part_rows), _ROWS_PER_INSERT):
                part = part_rows[start : start + _ROWS_PER_INSERT]
                params = (route_id, at, run_id, *itertools.chain.from_iterable(part))
                conn.exec_driver_sql(self._upsert_delivered_sql(len(part), width), params)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one ledger a run; few distinct sizes
    def _upsert_delivered_sql(self, rows: int, width: int) -> str:
        """SQLite's per-batch write as one statement: INSERT ... SELECT from a VALUES list of
        `rows` rows (each row's own five values, or with `width` 2 its key and hash, the rest
        NULL, 0, NULL; route, time and run given once) ... ON CONFLICT DO UPDATE. (PostgreSQL
        takes arrays: `_PG_UPSERT_DELIVERED`.)"""
        columns = ("route_id", "delivered_at", "run_id", "record_key", "payload_hash",
                   "delete_values", "deleted", "version")  # fmt: skip
        row = f"({', '.join(['?'] * width)})"
        values = "column3, column4, column5" if width == 5 else "NULL, 0, NULL"
        # `WHERE true`: an upsert's ON CONFLICT after a SELECT needs one (SQLite's grammar)
        return (
            f"INSERT INTO cdp_delivered ({', '.join(columns)}) "
            f"SELECT ?, ?, ?, column1, column2, {values} "
            f"FROM (VALUES {', '.join([row] * rows)}) WHERE true "
            f"ON CONFLICT (route_id, record_key) DO UPDATE SET {_DELIVERED_UPDATES}"
        )

    @_one_line
    def settle(
        self,
        route_id: int | None,
        run_id: int | None,
        delivered: Sequence[Delivered],
        failed: Sequence[Mapping[str, Any]],
        cleared: Sequence[str],
        *,
        seen: Sequence[str] = (),
        version: int | None = None,
    ) -> None:
        """One batch's outcome in one transaction: keys delivered (their failures cleared),
        records failed (pending or refused), failure rows to drop (`cleared`), and keys
        present in full-table `version` (`seen`)."""
        if self.read_only or route_id is None or not (delivered or failed or cleared or seen):
            return
        now = utc_now()
        d = s.delivered.c
        single = self.dialect == "postgresql" and not (failed or cleared or seen)
        # one statement is atomic by itself: on PostgreSQL it goes in autocommit (one round
        # trip instead of BEGIN, INSERT, COMMIT)
        with self._single() if single else self._write() as conn:
            if seen and version is not None:
                for chunk in _chunks(list(dict.fromkeys(seen))):
                    conn.execute(
                        sa.update(s.delivered)
                        .where(d.route_id == route_id, d.record_key.in_(chunk))
                        .values(version=version)
                    )
            if cleared:
                for chunk in _chunks(list(dict.fromkeys(cleared))):
                    conn.execute(
                        sa.delete(s.failures).where(
                            s.failures.c.route_id == route_id, s.failures.c.record_key.in_(chunk)
                        )
                    )
            if delivered:
                self.written += len(delivered)
                last = {row[0]: row for row in delivered}  # one row a key (the last)
                self._upsert_delivered(conn, route_id, run_id, list(last.values()))
            if failed:
                self.failing.add(route_id)
                rows = [
                    {"route_id": route_id, "run_id": run_id, "failed_at": now, "attempts": 1,
                     "claimed_by": None, "claimed_at": None, **row}
                    for row in _last_per_key(failed)
                ]  # fmt: skip
                stmt = self._insert(s.failures)
                columns = ("kind", "payload_hash", "payload", "error_code", "error_message",
                           "failed_at", "run_id", "claimed_by", "claimed_at")  # fmt: skip
                stmt = stmt.on_conflict_do_update(
                    index_elements=["route_id", "record_key"],
                    set_={
                        **{c: stmt.excluded[c] for c in columns},
                        "attempts": s.failures.c.attempts + 1,
                    },
                )
                conn.execute(stmt, rows)
        if self.dialect == "postgresql" and self.written >= self._next_analyze:
            self._next_analyze = self.written * 2  # 5k, 10k, 20k, ...: log many times a run
            self._analyze()

    def _analyze(self) -> None:
        """Fresh planner statistics: without them PostgreSQL scans a route's whole key range
        for each lookup while a first run fills the table."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            if self.dialect == "postgresql":
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                    "ANALYZE cdp_delivered"
                )
            else:
                conn.exec_driver_sql("PRAGMA optimize")

    # retries ------------------------------------------------------------------------
    def claim_pending(self, route_id: int | None, limit: int = 1 << 30) -> list[tuple[str, str]]:
        """Claim this route's pending records for this run: (record_key, payload) pairs."""
        if route_id is None or self.empty:
            return []
        f = s.failures.c
        if not self.read_only:
            stale = utc_now() - datetime.timedelta(seconds=CLAIM_LEASE_SECONDS)
            with self._write() as conn:
                conn.execute(
                    sa.update(s.failures)
                    .where(
                        f.route_id == route_id,
                        f.kind == "pending",
                        sa.or_(f.claimed_by.is_(None), f.claimed_at < stale),
                    )
                    .values(claimed_by=self.token, claimed_at=utc_now())
                )
            mine = f.claimed_by == self.token
        else:
            mine = f.claimed_by.is_(None)
        with self._read() as conn:
            rows = conn.execute(
                sa.select(f.record_key, f.payload)
                .where(f.route_id == route_id, f.kind == "pending", mine)
                .order_by(f.failed_at, f.record_key)
                .limit(limit)
            ).all()
        return [(key, payload) for key, payload in rows if payload]

    # delete_missing -----------------------------------------------------------------
    @_one_line
    def missing(self, route_id: int | None, version: int) -> list[tuple[str, str]]:
        """Keys delivered on the route but not seen in `version`: (record_key, delete_values)."""
        if route_id is None:
            return []
        d = s.delivered.c
        with self._read() as conn:
            return [
                (key, values)
                for key, values in conn.execute(
                    sa.select(d.record_key, d.delete_values).where(
                        d.route_id == route_id,
                        d.deleted.is_(False),
                        d.delete_values.is_not(None),
                        sa.or_(d.version.is_(None), d.version != version),
                    )
                )
            ]


def _last_per_key(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One row per record key (the last), as an upsert of many rows needs."""
    return list({row["record_key"]: row for row in rows}.values())
