"""The ledger's storage: SQLAlchemy Core on SQLite (default) or PostgreSQL (psycopg).

Every method is one short transaction, called once per batch or window, never per record.
SQLite runs in WAL mode with a busy timeout, and write transactions start with
`BEGIN IMMEDIATE` so two processes sharing one file wait for each other instead of failing
on a lock upgrade. A read-only ledger (dry run) reads and never writes.
"""

from __future__ import annotations

import datetime
import functools
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from target_cdp.ledger import schema as s

SETTING = "ledger_uri"
SQLITE_BUSY_TIMEOUT_MS = 30_000
CLAIM_LEASE_SECONDS = 15 * 60  # a claim older than this (its run died) may be taken over
_CHUNK = 900  # keys per IN (...) list
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


class LedgerError(Exception):
    """The ledger cannot be used: one line naming `ledger_uri`, the password never shown."""


_F = TypeVar("_F", bound=Callable[..., Any])


def _one_line(method: _F) -> _F:
    """A database error inside a ledger call becomes a LedgerError of one line."""

    @functools.wraps(method)
    def wrapper(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not isinstance(exc, (SQLAlchemyError, OSError, *self.driver_errors)):
                raise
            raise LedgerError(
                f"{SETTING}: the ledger at {shown(self.url)} failed: {_reason(exc)}"
            ) from None

    return wrapper  # type: ignore[return-value]  # `wraps` keeps the signature of `method`


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def parse_uri(uri: str | None) -> URL | None:
    """The SQLAlchemy URL for `ledger_uri` (None: `none`, the ledger is off)."""
    text = (uri or "").strip()
    if not text or text.lower() == "none":
        return None
    try:
        url = make_url(text)
    except ArgumentError:
        raise LedgerError(
            f"{SETTING}: not a URL; use sqlite:///PATH, "
            "postgresql://USER:PASSWORD@HOST:PORT/DB or none"
        ) from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    backend = url.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise LedgerError(
            f"{SETTING}: unsupported database '{backend}'; use sqlite:///PATH, "
            "postgresql://USER:PASSWORD@HOST:PORT/DB or none"
        )
    if backend == "sqlite" and not url.database:
        raise LedgerError(f"{SETTING}: sqlite needs a file path (sqlite:///PATH)")
    return url


def shown(url: URL) -> str:
    """The URL as it may appear in a message: the password masked."""
    return url.render_as_string(hide_password=True)


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


class Ledger:
    """One ledger database, used by every route of a run."""

    def __init__(self, url: URL, *, read_only: bool = False) -> None:
        self.url = url
        self.read_only = read_only
        self.token = uuid.uuid4().hex  # this run, in claims and run history
        self.engine: Engine | None = None
        self.dialect = url.get_backend_name()
        self.empty = False
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self.failing: set[int] = set()  # routes with failure rows (lookups read them too)
        self.known: set[int] = set()  # routes with delivered rows when the run started
        self.written = 0  # rows this run upserted (a large run refreshes planner statistics)
        self._next_analyze = ANALYZE_AFTER

    # opening ------------------------------------------------------------------------
    def open(self) -> None:
        """Connect, create or check the schema; LedgerError (one line) when it cannot work."""
        if (
            self.read_only
            and self.dialect == "sqlite"
            and not os.path.exists(self.url.database or "")
        ):
            self.empty = True  # a dry run creates no file: nothing was delivered yet
            return
        try:
            self.engine = self._engine()
            self._ensure_schema()
        except LedgerError:
            raise
        except ImportError as exc:
            raise LedgerError(
                f"{SETTING}: PostgreSQL needs the psycopg package "
                f"(pip install 'cdp-connectors[postgres]'): {exc}"
            ) from None
        except (SQLAlchemyError, OSError) as exc:
            raise LedgerError(
                f"{SETTING}: cannot use the ledger at {shown(self.url)}: {_reason(exc)}"
            ) from None

    def _engine(self) -> Engine:
        if self.dialect == "sqlite":
            path = self.url.database or ""
            if path != ":memory:" and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise LedgerError(
                    f"{SETTING}: cannot use the ledger at {shown(self.url)}: "
                    f"directory {os.path.dirname(os.path.abspath(path))} does not exist"
                )
            engine = sa.create_engine(
                self.url,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                pool_size=8,
                max_overflow=8,
                pool_reset_on_return=None,  # every transaction here ends in commit or rollback
            )
            sa.event.listen(engine, "connect", _sqlite_connect)
            self.driver_errors = (engine.dialect.dbapi.Error,)  # type: ignore[union-attr]  # set once created
            sa.event.listen(engine, "begin", _sqlite_begin)
            return engine
        # prepare_threshold None: no server-side prepared statements, whose generic plans
        # can scan a whole route for an IN list of keys
        connect_args: dict[str, Any] = {"connect_timeout": 10, "prepare_threshold": None}
        engine = sa.create_engine(
            self.url,
            connect_args=connect_args,
            pool_size=8,
            max_overflow=8,
            pool_recycle=1800,
            pool_reset_on_return=None,  # every transaction here ends in commit or rollback
        )
        self.driver_errors = (engine.dialect.dbapi.Error,)  # type: ignore[union-attr]  # set once created
        return engine

    def _ensure_schema(self) -> None:
        assert self.engine is not None
        for attempt in range(5):
            try:
                with self._write() as conn:
                    found = self._version(conn)
                    if found is None and not self.read_only:
                        s.metadata.create_all(conn, checkfirst=True)
                        conn.execute(
                            self._upsert(s.meta, ["name"], {"name": "schema_version",
                                                            "value": str(s.SCHEMA_VERSION)},
                                         update=False)
                        )  # fmt: skip
                        found = s.SCHEMA_VERSION
                break
            except SQLAlchemyError:  # another process created the tables at the same moment
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))
        if found is not None and found > s.SCHEMA_VERSION:
            raise LedgerError(
                f"{SETTING}: the ledger at {shown(self.url)} was written by a newer target-cdp "
                f"(schema {found}; this release knows up to {s.SCHEMA_VERSION}): upgrade "
                "target-cdp or point ledger_uri at another ledger"
            )
        self.schema_version = found
        self.empty = found is None  # a dry run on a ledger never written: nothing to read

    def _version(self, conn: Connection) -> int | None:
        if not sa.inspect(conn).has_table(s.meta.name):
            return None
        value = conn.execute(
            sa.select(s.meta.c.value).where(s.meta.c.name == "schema_version")
        ).scalar()
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    # connections --------------------------------------------------------------------
    def _write(self) -> Any:
        """A write transaction (BEGIN IMMEDIATE on SQLite). On SQLite this process's writers
        queue on a lock first: SQLite's own busy handler sleeps up to 100 ms between tries."""
        assert self.engine is not None
        conn = self.engine.connect().execution_options(cdp_write=True)
        return _Transaction(conn, self._write_lock)

    def _single(self) -> Any:
        """A connection in autocommit for one statement (PostgreSQL)."""
        assert self.engine is not None
        return _Autocommit(self.engine.connect().execution_options(isolation_level="AUTOCOMMIT"))

    def _read(self) -> Any:
        assert self.engine is not None
        return _Transaction(self.engine.connect())

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT (it knows ON CONFLICT)."""
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)

    def _upsert(
        self, table: sa.Table, index: list[str], row: Mapping[str, Any] | None = None, *,
        update: bool = True, columns: Sequence[str] = (),
    ) -> Any:  # fmt: skip
        """INSERT ... ON CONFLICT (index) DO UPDATE SET columns (or DO NOTHING)."""
        stmt = self._insert(table)
        if row is not None:
            stmt = stmt.values(**row)
        if not update:
            return stmt.on_conflict_do_nothing(index_elements=index)
        return stmt.on_conflict_do_update(
            index_elements=index, set_={c: stmt.excluded[c] for c in columns}
        )

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
        self, conn: Connection, route_id: int, run_id: int | None, rows: list[Mapping[str, Any]]
    ) -> None:
        """Delivered keys in one statement a chunk. PostgreSQL: arrays through `unnest` (a
        handful of parameters whatever the rows: five times faster than a VALUES list)."""
        at = self._now_param()
        if self.dialect == "postgresql":
            conn.exec_driver_sql(
                _PG_UPSERT_DELIVERED,
                (
                    route_id, at, run_id,
                    [r["record_key"] for r in rows], [r["payload_hash"] for r in rows],
                    [r["delete_values"] for r in rows], [bool(r["deleted"]) for r in rows],
                    [r["version"] for r in rows],
                ),
            )  # fmt: skip
            return
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            part = rows[start : start + _ROWS_PER_INSERT]
            params: list[Any] = []
            for r in part:
                params += (route_id, r["record_key"], r["payload_hash"], r["delete_values"],
                           bool(r["deleted"]), r["version"], at, run_id)  # fmt: skip
            conn.exec_driver_sql(self._upsert_delivered_sql(len(part)), tuple(params))

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one ledger a run; few distinct sizes
    def _upsert_delivered_sql(self, rows: int) -> str:
        """The per-batch write as one statement (one round trip): INSERT of `rows` rows ...
        ON CONFLICT DO UPDATE, in the driver's parameter style (both dialects know it)."""
        mark = "%s" if self.dialect == "postgresql" else "?"
        columns = ("route_id", "record_key", "payload_hash", "delete_values", "deleted",
                   "version", "delivered_at", "run_id")  # fmt: skip
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[2:])
        row = f"({', '.join([mark] * len(columns))})"
        return (
            f"INSERT INTO cdp_delivered ({', '.join(columns)}) VALUES {', '.join([row] * rows)} "
            f"ON CONFLICT (route_id, record_key) DO UPDATE SET {updates}"
        )

    def _now_param(self) -> Any:
        """The current time as the driver stores it (SQLite: SQLAlchemy's text format)."""
        now = utc_now()
        return now.strftime("%Y-%m-%d %H:%M:%S.%f") if self.dialect == "sqlite" else now

    @_one_line
    def settle(
        self,
        route_id: int | None,
        run_id: int | None,
        delivered: Sequence[Mapping[str, Any]],
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
                self._upsert_delivered(conn, route_id, run_id, _last_per_key(delivered))
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

    # remembered ids -----------------------------------------------------------------
    @_one_line
    def recall(self, namespace: str, values: Sequence[str]) -> dict[str, str]:
        if not values or self.empty:
            return {}
        r = s.remembered_ids.c
        out: dict[str, str] = {}
        with self._read() as conn:
            for chunk in _chunks(list(dict.fromkeys(values))):
                out.update(
                    conn.execute(
                        sa.select(r.value, r.remote_id).where(
                            r.namespace == namespace, r.value.in_(chunk)
                        )
                    ).all()
                )
        return out

    @_one_line
    def remember(self, namespace: str, ids: Mapping[str, Any]) -> None:
        if self.read_only or not ids:
            return
        now = utc_now()
        rows = [
            {"namespace": namespace, "value": v, "remote_id": str(i), "remembered_at": now}
            for v, i in ids.items()
        ]
        with self._write() as conn:
            conn.execute(
                self._upsert(s.remembered_ids, ["namespace", "value"],
                             columns=("remote_id", "remembered_at")),
                rows,
            )  # fmt: skip

    @_one_line
    def forget(self, namespace: str, values: Sequence[str]) -> None:
        if self.read_only or not values:
            return
        r = s.remembered_ids.c
        with self._write() as conn:
            conn.execute(
                sa.delete(s.remembered_ids).where(r.namespace == namespace, r.value.in_(values))
            )


class _Transaction:
    """`with ledger._write() as conn:` one transaction on its own pooled connection."""

    def __init__(self, conn: Connection, lock: threading.Lock | None = None) -> None:
        self.conn = conn
        self.lock = lock

    def __enter__(self) -> Connection:
        if self.lock is not None:
            self.lock.acquire()
        try:
            self.trans = self.conn.begin()
        except BaseException:
            self._release()
            raise
        return self.conn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            if kind is None:
                self.trans.commit()
            else:
                self.trans.rollback()
        finally:
            self._release()

    def _release(self) -> None:
        try:
            self.conn.close()
        finally:
            if self.lock is not None:
                self.lock.release()


class _Autocommit:
    """`with ledger._single() as conn:` one autocommitted statement on a pooled connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.conn.close()


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    write = conn.get_execution_options().get("cdp_write")
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _fetch(conn: Connection, sql: str, params: tuple[Any, ...]) -> Sequence[Any]:
    """All rows of one query on the DBAPI cursor itself (no per-row processing)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _last_per_key(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One row per record key (the last), as an upsert of many rows needs."""
    return list({row["record_key"]: row for row in rows}.values())


def _reason(exc: BaseException) -> str:
    """The first line of a driver error, without SQLAlchemy's background links."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]
