"""The seam between delivery and the ledger: what one run remembers, per route.

Delivery calls, once per window or batch (per record only `mark` and `decide`/`admit`):
- `RouteMemory.admit` holds a prepared record in the route's diff window; a full window is
  looked up in one query and comes back split into records to send and unchanged ones;
  on a route's first run there is nothing to look up: `decide` sends each record at once;
- `Writer.submit` hands a delivered batch's outcome (delivered, pending, refused) to the one
  writer thread, which records it (`RouteMemory.settle`, one transaction) after the destination
  answered and only then releases the batch's records, so the STATE covering them waits;
- `RouteMemory.pending` claims what earlier runs left pending (once per run);
- `RunMemory.start`/`finish` open the ledger and write the run history.

The invariant: a key's payload hash is written only once the destination accepted that
payload. A key still in flight (queued, not yet settled) is compared with what is in flight,
not with the ledger, so a record that changes and changes back in one run is never wrongly
skipped. The in-flight map is read before the ledger and an entry leaves it only after its
batch is committed, so a key missing from the map when read has its latest payload in the
ledger. Only the thread batching records (holding the pipeline's lock) changes the map: the
writer queues what it committed (`settled`) and that thread drops it (`forget_settled`).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from typing import Any

from target_cdp.jsontext import readable_json
from target_cdp.ledger.digest import fingerprint, fingerprints, key_text
from target_cdp.ledger.marks import Mark, Outcome
from target_cdp.ledger.store import Delivered, Known, Ledger
from target_cdp.ledger.writer import Writer
from target_cdp.redact import REDACTOR
from target_cdp.routes import Route
from target_cdp.summary import RouteStats
from target_cdp.vendors.base import Destination

__all__ = ["WINDOW", "Mark", "Outcome", "RouteMemory", "RunMemory", "Writer"]

WINDOW = 1000  # records looked up in one query


class RouteMemory:
    """One route's view of the ledger for this run."""

    def __init__(self, run: RunMemory, route: Route, dest: Destination, stats: RouteStats,
                 diff: bool, delete_missing: bool) -> None:  # fmt: skip
        self.run = run
        self.route = route
        self.dest = dest
        self.stats = stats
        self.diff = diff
        self.delete_missing = delete_missing
        self.tracks = diff or delete_missing  # keys are recorded per batch
        self.route_id: int | None = None
        self.run_id: int | None = None
        self.window: list[Mark] = []
        self.seen: list[str] = []  # keys of the current version that never reached the window
        self.seen_version: int | None = None
        self.inflight: dict[str, str] = {}  # key -> hash submitted and not yet settled
        # (key, hash) of batches the writer committed, for the main thread to drop from
        # `inflight` (it alone changes the map: no lock per record)
        self.settled: deque[tuple[str, str] | Delivered] = deque()  # (key, hash, ...)
        self.dry_seen: set[str] = set()  # dry run + delete_missing: keys of this version
        self.first_run = False  # set by `RunMemory.start`: the ledger had nothing of the route
        self._counted = [0, 0, 0, 0]  # unchanged, added, changed, all: `decide`'s, not yet added

    # main thread ---------------------------------------------------------------------
    def mark(self, key: Any, item: Any, record: dict[str, Any], version: Any) -> Mark:
        """A tracked route's prepared record, fingerprinted."""
        return self.mark_many([key], [item], [record], [version])[0]

    def mark_many(
        self, keys: list[Any], items: list[Any], records: list[dict[str, Any]], versions: list[Any]
    ) -> list[Mark]:
        """`mark` for records in input order (comprehensions: this runs per record)."""
        is_delete, route = self.dest.is_delete, self.route
        marks = [
            Mark(key, key if type(key) is str else key_text(key), item, record,
                 "tombstone" if is_delete(route, item) else "upsert", digest)
            for key, item, record, digest in zip(keys, items, records, fingerprints(items),
                                                 strict=True)
        ]  # fmt: skip
        if self.delete_missing:
            dest = self.dest
            for mark, version in zip(marks, versions, strict=True):
                mark.version = version if isinstance(version, int) else None
                if mark.kind == "upsert":
                    values = dest.delete_values(route, mark.item)
                    mark.delete_values = None if values is None else readable_json(values)
        return marks

    def saw(self, key: Any, version: Any) -> None:
        """A record that could not be prepared still exists at the source: keep its key."""
        text = key_text(key)
        if self.delete_missing and text is not None and isinstance(version, int):
            self.seen.append(text)
            self.seen_version = version

    def decide(self, mark: Mark) -> bool | None:
        """On a route's first run (no delivered row when it started, no failure row yet) a
        window has nothing to look up: decide each record at once, as `resolve` would. True:
        send it; False: unchanged (its payload is in flight); None: through the window."""
        decided = self.decide_many([mark])
        return None if decided is None else decided[0]

    def decide_many(self, marks: list[Mark]) -> list[bool] | None:
        """`decide` for marks in input order; None: all of them go through the window."""
        if not self.first_run or self.window or self.route_id in self.run.ledger.failing:
            return None
        inflight = self.inflight
        counted = self._counted
        full = self.run.full_resync
        texts = [mark.text for mark in marks if mark.text is not None]
        if len(set(texts)) == len(marks) and inflight.keys().isdisjoint(texts):
            # the usual first run: keys not seen yet, each once: all added, all sent
            inflight.update(zip(texts, [mark.hash or "" for mark in marks], strict=True))
            counted[1] += len(marks)
            sends = [True] * len(marks)
        else:
            sends = []
            for mark in marks:
                text = mark.text
                if text is None:
                    sends.append(True)
                    continue
                previous = inflight.get(text)
                send = previous != mark.hash or full
                if send:
                    counted[1 if previous is None else 2] += 1
                    inflight[text] = mark.hash or ""
                else:
                    counted[0] += 1
                sends.append(send)
        counted[3] += len(sends)
        if counted[3] >= WINDOW:
            self.count_decided()
            self.forget_settled()
        return sends

    def forget_settled(self) -> None:
        """Drop from `inflight` the keys whose latest payload the writer has committed."""
        settled, inflight = self.settled, self.inflight
        while settled:
            row = settled.popleft()
            if inflight.get(row[0]) == row[1]:  # not sent again since
                del inflight[row[0]]

    def count_decided(self) -> None:
        """Add the records `decide` counted to the route's figures."""
        unchanged, added, changed, decided = self._counted
        if decided:
            self._counted = [0, 0, 0, 0]
            self.stats.add(unchanged=unchanged, added=added, changed=changed)

    def admit(self, mark: Mark) -> list[Mark] | None:
        """Hold `mark` in the window; a full window comes back resolved (see `resolve`)."""
        self.window.append(mark)
        if len(self.window) >= WINDOW:
            return self.resolve()
        return None

    def resolve(self) -> list[Mark]:
        """Look the window up (one query) and return the marks to send; unchanged marks are
        counted and finished here (their intervals released through `run.done`)."""
        self.count_decided()
        self.forget_settled()  # before the ledger is read (see the module docstring)
        window, self.window = self.window, []
        seen, self.seen = self.seen, []
        if not window and not seen:
            return []
        texts = [m.text for m in window if m.text is not None]
        inflight = self.inflight
        before = {t: inflight[t] for t in texts if t in inflight}  # before the ledger read
        ledger = self.run.ledger
        fresh = self.route_id not in ledger.known and self.route_id not in ledger.failing
        # a route with nothing in the ledger when the run started (its first run) has nothing
        # to compare with: no lookup (a key repeated after its batch settled is resent)
        known = ledger.lookup(self.route_id, texts) if texts and not fresh else {}
        send: list[Mark] = []
        unchanged: list[Mark] = []
        stale: list[str] = []  # pending rows made obsolete by an unchanged record
        sent_now: dict[str, str] = {}
        added = changed = 0
        resync = self.run.full_resync or not self.diff
        for mark in window:
            text = mark.text
            if text is None:
                send.append(mark)
                continue
            old = known.get(text)
            if old is not None and old.failure is not None:
                mark.clear = text
            previous = sent_now.get(text) or before.get(text)
            # in flight: compare with what is on its way, else with the ledger
            same = previous == mark.hash if previous is not None else _same(old, mark)
            if same and not resync:
                unchanged.append(mark)
                if old is not None and old.failure == "pending":
                    stale.append(text)
                continue
            if previous is None and (old is None or old.delivered_hash is None or old.deleted):
                added += 1
            else:
                changed += 1
            sent_now[text] = mark.hash or ""
            send.append(mark)
        inflight.update(sent_now)
        seen_keys: list[str] = []
        version = None
        if self.delete_missing:  # every key of this version stays, whatever happens to it
            version = next((m.version for m in window if m.version is not None),
                           self.seen_version)  # fmt: skip
            if version is not None:
                seen_keys = texts + seen
        if seen_keys and self.run.dry_run:  # the ledger is not written: remember them here
            self.dry_seen.update(seen_keys)
        if stale or seen_keys:
            self.run.ledger.settle(self.route_id, self.run_id, [], [], stale,
                                   seen=seen_keys, version=version)  # fmt: skip
        self.stats.add(unchanged=len(unchanged), added=added, changed=changed)
        if unchanged:
            self.run.done([m.interval for m in unchanged])
        return send

    # lane threads --------------------------------------------------------------------
    def settle(self, outcome: Outcome) -> None:
        """Write one batch's outcome to the ledger (one transaction)."""
        delivered = outcome.delivered  # per record: comprehensions, not one loop of steps
        cleared = [mark.clear for mark in delivered if mark.clear]
        deleted = [mark.kind for mark in delivered].count("delete")
        delivered_rows: list[Delivered] = [
            (mark.text, mark.hash or "", mark.delete_values if mark.kind == "upsert" else None,
             mark.kind != "upsert", mark.version)
            for mark in delivered
            if mark.text is not None
        ] if self.tracks else []  # fmt: skip
        failed_rows = []
        for mark, kind, code, message in outcome.failed:
            text = mark.text
            if text is None:
                text = "#" + (mark.hash or fingerprint(mark.record))
            if mark.clear and mark.clear != text:
                cleared.append(mark.clear)
            payload = None
            if kind == "pending":
                body: dict[str, Any] = {"key": mark.key}
                if mark.kind == "delete":
                    body["delete"] = json.loads(mark.delete_values or "{}")
                else:
                    body["record"] = mark.record
                payload = REDACTOR(readable_json(body))
            failed_rows.append(
                {
                    "record_key": text,
                    "kind": kind,
                    "payload_hash": mark.hash or fingerprint(mark.item),
                    "payload": payload,
                    "error_code": str(code)[:64],
                    "error_message": REDACTOR(str(message))[:2000],
                }
            )
        self.run.ledger.settle(self.route_id, self.run_id, delivered_rows, failed_rows, cleared)
        if deleted:
            self.stats.add(deleted=deleted)
        if self.tracks:  # committed: the main thread may now drop them from `inflight`
            settled = self.settled
            settled.extend(delivered_rows)  # (key, hash, ...) of each delivered mark with a key
            for mark, _, _, _ in outcome.failed:
                if mark.text is not None:
                    settled.append((mark.text, mark.hash or ""))

    # retries and deletes ---------------------------------------------------------------
    def pending(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Pending records of earlier runs, claimed for this run: (record_key, payload)."""
        for text, payload in self.run.ledger.claim_pending(self.route_id):
            try:
                body = json.loads(payload)
            except ValueError:
                continue
            if isinstance(body, dict):
                yield text, body

    def missing(self, version: int) -> list[tuple[str, dict[str, Any]]]:
        """Keys delivered earlier and absent from full-table `version`, with delete values."""
        out = []
        for text, values in self.run.ledger.missing(self.route_id, version):
            if text in self.dry_seen:
                continue
            try:
                parsed = json.loads(values)
            except (TypeError, ValueError):
                continue
            if isinstance(parsed, dict) and parsed:
                out.append((text, parsed))
        return out

    def delete_mark(self, text: str, values: dict[str, Any]) -> Mark:
        item = self.dest.delete_item(self.route, values)
        mark = Mark(text, text, item, dict(values), "delete")
        mark.hash = fingerprint(item)
        mark.delete_values = readable_json(values)
        return mark


def _same(old: Known | None, mark: Mark) -> bool:
    """True when the ledger says this exact payload was delivered (or refused) last."""
    if old is None:
        return False
    if old.failure == "refused" and old.failure_hash == mark.hash:
        return True
    if old.delivered_hash != mark.hash:
        return False
    return old.deleted == (mark.kind != "upsert")


class RunMemory:
    """The ledger for one run: opened before anything is sent, run history at the end."""

    def __init__(self, ledger: Ledger, *, retry_failed: bool, full_resync: bool) -> None:
        self.ledger = ledger
        self.retry_failed = retry_failed
        self.full_resync = full_resync
        self.routes: list[RouteMemory] = []
        self.done: Any = lambda intervals: None  # set by the pipeline: releases intervals
        self.started = False
        self.writer = Writer()

    @property
    def dry_run(self) -> bool:
        return self.ledger.read_only

    def route(self, route: Route, dest: Destination, stats: RouteStats, diff: bool,
              delete_missing: bool) -> RouteMemory:  # fmt: skip
        memory = RouteMemory(self, route, dest, stats, diff, delete_missing)
        self.routes.append(memory)
        return memory

    def start(self) -> None:
        """Open the ledger and start this run's history (LedgerError: one line)."""
        self.ledger.open()
        ids = self.ledger.route_ids(m.route.label for m in self.routes)
        for memory in self.routes:
            memory.route_id = ids.get(memory.route.label)
        runs = self.ledger.start_runs({m.route_id for m in self.routes if m.route_id is not None})
        for memory in self.routes:
            memory.run_id = runs.get(memory.route_id) if memory.route_id is not None else None
            memory.first_run = (
                memory.diff
                and not memory.delete_missing
                and memory.route_id is not None
                and memory.route_id not in self.ledger.known
                and memory.route_id not in self.ledger.failing
            )
        self.writer.start()
        self.started = True

    def finish(self, status: str) -> None:
        self.writer.stop()
        if not self.started:
            return
        results = {}
        for memory in self.routes:
            if memory.run_id is not None:
                results[memory.run_id] = (status, memory.stats.as_dict())
        try:
            self.ledger.finish_runs(results)
        finally:
            self.ledger.close()
