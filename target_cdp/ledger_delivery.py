"""The ledger's paths through delivery: records earlier runs left pending sent first, keys a
completed full-table version lacks deleted, every lane drained, and what a stopped run did
not deliver recorded as pending."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from target_cdp.lanes import Buffer, Lane, RouteRuntime, _marks
from target_cdp.ledger.memory import Mark, Outcome
from target_cdp.sender import StopDelivery
from target_cdp.state import Interval, StateTracker


class LedgerDelivery:
    """`Pipeline`'s retries at the start, deletes when a full-table version completes, drain
    and park."""

    tracker: StateTracker
    logger: logging.Logger
    lanes: list[Lane]
    routes: list[RouteRuntime]
    stopped: StopDelivery | None
    dropped: list[tuple[RouteRuntime, Buffer]]
    _lock: threading.RLock

    if TYPE_CHECKING:  # batching, in `Pipeline`

        def flush_all(self) -> None: ...
        def _slot(self, key: Any) -> int: ...
        def _route_record(self, rt: RouteRuntime, record: dict[str, Any], key: Any, slot: int,
                          interval: Interval, version: Any, clear: str | None = None
                          ) -> None: ...  # fmt: skip
        def _enqueue(self, rt: RouteRuntime, slot: int, key: Any, item: Any, bkey: Any,
                     record: dict[str, Any], interval: Interval, mark: Any, counted: bool = False
                     ) -> None: ...  # fmt: skip

    def retry_pending(self) -> int:
        """Send the records earlier runs left pending, before any new input."""
        count = 0
        for rt in self.routes:
            memory = rt.memory
            if memory is None or not memory.run.retry_failed:
                continue
            for text, body in memory.pending():
                interval = self.tracker.open
                if "delete" in body:
                    if not isinstance(body["delete"], dict):
                        continue
                    mark = memory.delete_mark(text, body["delete"])
                    mark.clear = text
                    self._enqueue_mark(rt, mark, interval)
                else:
                    record = body.get("record")
                    if not isinstance(record, dict):
                        continue
                    key = body.get("key")
                    key = tuple(key) if isinstance(key, list) else key
                    rt.stats.add(retried=1)
                    self._route_record(rt, record, key, self._slot(key), interval, None, text)
                count += 1
        return count

    def _enqueue_mark(self, rt: RouteRuntime, mark: Mark, interval: Interval) -> None:
        mark.bkey = rt.dest.batch_key(rt.route, mark.item)
        mark.interval = interval
        self._enqueue(rt, self._slot(mark.key), mark.key, mark.item, mark.bkey, mark.record,
                      interval, mark)  # fmt: skip

    def delete_missing(self, rt: RouteRuntime, version: int) -> int:
        """Full-table `version` completed: delete the route's keys it did not contain."""
        memory = rt.memory
        if memory is None or not memory.delete_missing:
            return 0
        self.drain()
        gone = memory.missing(version)
        for text, values in gone:
            self._enqueue_mark(rt, memory.delete_mark(text, values), self.tracker.open)
        if gone:
            self.logger.info(
                "%s: full-table version %s completed; deleting %d keys it no longer has",
                rt.route.label, version, len(gone),
            )  # fmt: skip
        return len(gone)

    def drain(self) -> None:
        """Send everything open and wait until every lane has finished its queue."""
        with self._lock:
            self.flush_all()
        for lane in self.lanes:
            lane.queue.join()
        self._flush_writers()
        if self.stopped is not None:
            raise self.stopped

    def _flush_writers(self) -> None:
        """Wait for the ledger writer (batches' outcomes are written there, in order)."""
        for run in {id(rt.memory.run): rt.memory.run for rt in self.routes if rt.memory}.values():
            if run.writer.is_alive():
                run.writer.flush()

    def _park(self, reason: str) -> None:
        """The run stopped: what was not delivered becomes pending in the ledger."""
        left: dict[int, list[Mark]] = {}
        for rt, buf in self.dropped:
            left.setdefault(id(rt), []).extend(_marks(buf))
        for rt in self.routes:
            if rt.memory is None:
                continue
            marks = left.setdefault(id(rt), [])
            marks.extend(rt.memory.window)
            rt.memory.window = []
            for open_ in rt.buffers:
                for buf in open_.values():
                    marks.extend(_marks(buf))
                open_.clear()
        for rt in self.routes:
            parked = left.get(id(rt))
            if rt.memory is None or not parked:
                continue
            outcome = Outcome(failed=[(m, "pending", "stopped", reason) for m in parked])
            try:
                rt.memory.settle(outcome)
            except Exception as exc:  # the ledger itself is what failed
                self.logger.error("%s: could not record %d pending records in the ledger: %s",
                                  rt.route.label, len(parked), exc)  # fmt: skip
            else:
                rt.stats.add(pending=len(parked))
