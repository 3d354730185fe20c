"""Delivery: batching per (route, lane, batch key), lanes of ordered batches, refused-batch splits.

Each destination has `max_concurrency` lanes, one thread each, delivering its batches in order.
A record goes to lane `hash(stream key) % lanes`, so records with the same key are never
reordered; a record whose key sits in another open batch of the same route and lane (another
batch key, e.g. an upsert then a delete) flushes that batch first.

With a ledger (`target_cdp.ledger.memory`), a route that diffs holds its prepared records
in a window first: one lookup per window decides which are sent; each delivered batch's
outcome is handed to the ledger's writer thread, and its records count as done (so the STATE
covering them may be written) only once that outcome is committed.

A STATE flushes the open batches once `flush_seconds` have passed since the last flush: at
once, or from a timer when the last flush is more recent, so that a STATE is not held back
while the input pauses. The open batches are guarded by one lock for that timer.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from target_cdp.deadletter import DeadLetters, DeadLetterUnwritable
from target_cdp.ledger.digest import key_text
from target_cdp.ledger.memory import Mark, Outcome, RouteMemory
from target_cdp.ledger.store import LedgerError
from target_cdp.routes import Route
from target_cdp.sender import (
    Aborted,
    CredentialsRefused,
    RetriesExhausted,
    Sender,
    StopDelivery,
)
from target_cdp.state import Interval, StateTracker
from target_cdp.summary import RouteStats
from target_cdp.vendors.base import ConfigError, Destination, RecordError, Refused, Send

__all__ = [
    "Aborted",
    "CredentialsRefused",
    "Pipeline",
    "RetriesExhausted",
    "RouteRuntime",
    "StopDelivery",
]

_QUEUE_BATCHES = 4  # batches waiting per lane before the reader blocks (backpressure)


class Buffer:
    """An open batch: items of one route, lane and batch key."""

    __slots__ = ("bkey", "intervals", "items", "keys", "marks", "records", "size")

    def __init__(self, bkey: Any, size: int) -> None:
        self.bkey = bkey
        self.size = max(1, size)
        self.items: list[Any] = []
        self.records: list[dict[str, Any]] = []
        self.intervals: list[Interval] = []
        self.keys: set[Any] = set()
        self.marks: list[Any] = []  # with a ledger: a `Mark`, or the stream key (untracked)


@dataclass
class RouteRuntime:
    """A route with its destination, sender, counters and open buffers (one dict per lane)."""

    route: Route
    dest: Destination
    sender: Sender
    lanes: list[Lane]
    stats: RouteStats
    buffers: list[dict[Any, Buffer]] = field(default_factory=list)
    send: Send = field(init=False)  # set below: the sender bound to this route
    failed_once: bool = False
    memory: RouteMemory | None = None

    def __post_init__(self) -> None:
        self.buffers = [{} for _ in self.lanes]
        self.send = partial(self.sender.send, stats=self.stats, route=self.route.label)


class Lane(threading.Thread):
    """One worker delivering its queued batches strictly one after another."""

    def __init__(self, pipeline: Pipeline, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.pipeline = pipeline
        self.queue: queue.Queue[tuple[RouteRuntime, Buffer] | None] = queue.Queue(_QUEUE_BATCHES)

    def run(self) -> None:
        while True:
            job = self.queue.get()
            try:
                if job is None:
                    return
                if self.pipeline.stopped is not None:
                    self.pipeline.dropped.append(job)
                    continue
                try:
                    self.pipeline.process(*job)
                except LedgerError as exc:  # one line, no traceback: it names ledger_uri
                    self.pipeline.dropped.append(job)
                    self.pipeline.stop(StopDelivery(str(exc)))
                except StopDelivery as exc:  # e.g. the dead-letter file cannot be written
                    self.pipeline.dropped.append(job)
                    self.pipeline.stop(exc)
                except Exception as exc:
                    self.pipeline.logger.error("%s: delivery failed", self.name, exc_info=exc)
                    self.pipeline.dropped.append(job)
                    self.pipeline.stop(
                        StopDelivery(f"delivery failed: {type(exc).__name__}: {exc}")
                    )
            finally:
                if job is not None:
                    job[0].stats.add(in_flight=-1)
                self.queue.task_done()


class Pipeline:
    """Takes prepared records from the sinks and sees each one delivered or dead-lettered."""

    def __init__(
        self,
        tracker: StateTracker,
        dead: DeadLetters,
        logger: logging.Logger,
        flush_seconds: float,
    ) -> None:
        self.tracker = tracker
        self.dead = dead
        self.logger = logger
        self.flush_seconds = flush_seconds
        self.stopped: StopDelivery | None = None
        self.stop_event = threading.Event()
        self.lanes: list[Lane] = []
        self.routes: list[RouteRuntime] = []
        self._round_robin = itertools.count()
        self._last_flush = time.monotonic()
        self.dropped: list[tuple[RouteRuntime, Buffer]] = []  # batches a stop left undelivered
        self._lock = threading.RLock()  # the open batches: main thread and the STATE timer
        self._timer: threading.Timer | None = None

    def add_lanes(self, name: str, count: int) -> list[Lane]:
        lanes = [Lane(self, f"{name}-lane-{i}") for i in range(count)]
        for lane in lanes:
            lane.start()
        self.lanes += lanes
        return lanes

    def add_route(self, runtime: RouteRuntime) -> RouteRuntime:
        self.routes.append(runtime)
        return runtime

    # main thread ------------------------------------------------------------------------
    def submit(
        self, routes: list[RouteRuntime], record: dict[str, Any], key: Any, version: Any = None
    ) -> None:
        """Fan one record out to its stream's routes (`key`: the stream key values or None;
        `version`: the full-table version its RECORD message carries)."""
        with self._lock:
            self._submit(routes, record, key, version)

    def _submit(
        self, routes: list[RouteRuntime], record: dict[str, Any], key: Any, version: Any
    ) -> None:
        if self.stopped is not None:
            raise self.stopped
        if key is not None:
            try:
                hash(key)
            except TypeError:  # a key property holding an array or an object
                key = repr(key)
        slot = self._slot(key)
        interval = self.tracker.open
        for rt in routes:
            rt.stats.received += 1
            self._route_record(rt, record, key, slot, interval, version)

    def _slot(self, key: Any) -> int:
        if key is None:
            return next(self._round_robin)
        try:
            return hash(key)
        except TypeError:
            return hash(repr(key))

    def _route_record(
        self,
        rt: RouteRuntime,
        record: dict[str, Any],
        key: Any,
        slot: int,
        interval: Interval,
        version: Any,
        clear: str | None = None,
    ) -> None:
        """Prepare one record for one route and batch it (through the diff window if any)."""
        route = rt.route
        values = route.project(record)
        if route.fields is None:
            for name in rt.dest.record_metadata:  # for `prepare` to read from `record`
                values.pop(name, None)
        try:
            item = rt.dest.prepare(route, values, record)
            bkey = rt.dest.batch_key(route, item)
        except RecordError as exc:
            self.reject(rt, [record], exc.code, exc.message)
            if rt.memory is not None:
                rt.memory.saw(key, version)
            return
        except (ConfigError, RecursionError):  # a setting, or input nested too deeply
            raise
        except Exception as exc:  # a vendor bug: keep going, but show it once
            self._internal_error(rt, [record], exc)
            return
        memory = rt.memory
        if memory is None:
            self._enqueue(rt, slot, key, item, bkey, record, interval, None)
            return
        if not memory.tracks:
            mark: Any = key
            if clear is not None:
                mark = Mark(key, key_text(key), item, record, "upsert")
                mark.clear = clear
            self._enqueue(rt, slot, key, item, bkey, record, interval, mark)
            return
        mark = memory.mark(key, item, record, version)
        mark.clear = clear
        mark.bkey, mark.interval, mark.slot = bkey, interval, slot
        interval.submitted += 1
        ready = memory.admit(mark)
        if ready:
            self._send_marks(rt, ready)

    def _send_marks(self, rt: RouteRuntime, marks: list[Mark]) -> None:
        """Batch the marks a diff window decided to send (already counted as submitted)."""
        for mark in marks:
            self._enqueue(rt, mark.slot, mark.key, mark.item, mark.bkey, mark.record,
                          mark.interval, mark, counted=True)  # fmt: skip

    def _enqueue(
        self,
        rt: RouteRuntime,
        slot: int,
        key: Any,
        item: Any,
        bkey: Any,
        record: dict[str, Any],
        interval: Interval,
        mark: Any,
        counted: bool = False,
    ) -> None:
        lane_no = slot % len(rt.lanes)
        open_ = rt.buffers[lane_no]
        buf = open_.get(bkey)
        if buf is None:
            buf = open_[bkey] = Buffer(bkey, rt.dest.batch_size(rt.route, bkey))
        if key is not None:
            if len(open_) > 1:
                for other in list(open_.values()):
                    if other is not buf and key in other.keys:
                        self._flush(rt, lane_no, other)
            buf.keys.add(key)
        buf.items.append(item)
        buf.records.append(record)
        buf.intervals.append(interval)
        if rt.memory is not None:
            buf.marks.append(mark)
        if not counted:
            interval.submitted += 1
        if len(buf.items) >= buf.size:
            self._flush(rt, lane_no, buf)

    # ledger: retries at the start, deletes when a full-table version completes ----------
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

    def on_state(self) -> None:
        """A STATE arrived: flush partial batches now if the last flush is old enough, else
        once it is."""
        with self._lock:
            if not self.tracker.waiting:
                return
            wait = self._last_flush + self.flush_seconds - time.monotonic()
            if wait <= 0:
                self.flush_all()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._flush_held_state)
                self._timer.daemon = True
                self._timer.start()

    def _flush_held_state(self) -> None:
        """The STATE timer: flush for a STATE held back (the input may be paused)."""
        with self._lock:
            self._timer = None
            try:
                self.flush_all()
            except StopDelivery:  # the run stopped: nothing more is sent
                pass
            except LedgerError as exc:  # a diff window could not be looked up
                self.stop(StopDelivery(str(exc)))

    def flush_all(self) -> None:
        """Send every open batch (callers hold the lock)."""
        self._last_flush = time.monotonic()
        for rt in self.routes:
            if rt.memory is not None and (rt.memory.window or rt.memory.seen):
                self._send_marks(rt, rt.memory.resolve())
        for rt in self.routes:
            for lane_no, open_ in enumerate(rt.buffers):
                for buf in list(open_.values()):
                    self._flush(rt, lane_no, buf)

    def _flush(self, rt: RouteRuntime, lane_no: int, buf: Buffer) -> None:
        del rt.buffers[lane_no][buf.bkey]
        lane = rt.lanes[lane_no]
        while self.stopped is None:
            rt.stats.add(in_flight=1)
            try:
                lane.queue.put((rt, buf), timeout=0.2)
                return
            except queue.Full:
                rt.stats.add(in_flight=-1)
                continue
        raise self.stopped

    def finish(self) -> None:
        """Flush everything, let every lane finish its queue, close the senders."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            try:
                if self.stopped is None:
                    self.flush_all()
            except StopDelivery:
                pass
            except LedgerError as exc:  # a diff window could not be looked up
                self.stop(StopDelivery(str(exc)))
        for lane in self.lanes:
            lane.queue.put(None)
        for lane in self.lanes:
            lane.join()
        for sender in {id(rt.sender): rt.sender for rt in self.routes}.values():
            sender.close()
        self._flush_writers()
        if self.stopped is not None:
            self._park(self.stopped.message)

    def _park(self, reason: str) -> None:
        """The run stopped: what was not delivered becomes pending in the ledger."""
        left: dict[int, list[Mark]] = {}
        for rt, buf in self.dropped:
            left.setdefault(id(rt), []).extend(_marks(buf, range(len(buf.items))))
        for rt in self.routes:
            if rt.memory is None:
                continue
            marks = left.setdefault(id(rt), [])
            marks.extend(rt.memory.window)
            rt.memory.window = []
            for open_ in rt.buffers:
                for buf in open_.values():
                    marks.extend(_marks(buf, range(len(buf.items))))
                open_.clear()
        for rt in self.routes:
            marks = left.get(id(rt), [])
            if rt.memory is None or not marks:
                continue
            outcome = Outcome(failed=[(m, "pending", "stopped", reason) for m in marks])
            try:
                rt.memory.settle(outcome)
            except Exception as exc:  # the ledger itself is what failed
                self.logger.error("%s: could not record %d pending records in the ledger: %s",
                                  rt.route.label, len(marks), exc)  # fmt: skip
            else:
                rt.stats.add(pending=len(marks))

    # lane threads -----------------------------------------------------------------------
    def process(self, rt: RouteRuntime, buf: Buffer) -> None:
        """Deliver one batch; its records end delivered, dead-lettered or (with a ledger)
        pending; the ledger is written before they count as done."""
        report: _Report | None = _Report() if rt.memory is not None else None
        try:
            self._deliver(rt, buf, 0, len(buf.items), report)
        except StopDelivery as exc:
            self.stop(exc)
            if report is not None and rt.memory is not None:
                done = set(report.ok) | {i for i, *_ in report.failed}
                rest = [i for i in range(len(buf.items)) if i not in done]
                report.failed += [(i, "pending", "stopped", exc.message) for i in rest]
                rt.memory.settle(report.outcome(buf))
                rt.stats.add(pending=len(rest))
            return
        except LedgerError:  # the ledger, not the vendor: the lane stops the run
            raise
        except Exception as exc:  # a vendor bug in build/deliver
            self._internal_error(rt, buf.records, exc)
            if report is not None:
                report.ok = []
                report.failed = [(i, "refused", "internal_error", str(exc))
                                 for i in range(len(buf.items))]  # fmt: skip
        if report is not None and rt.memory is not None and rt.memory.run.writer.is_alive():
            intervals = buf.intervals
            rt.memory.run.writer.submit(
                rt.memory, report.outcome(buf), lambda: self.tracker.done(intervals)
            )
            return
        if report is not None and rt.memory is not None:
            rt.memory.settle(report.outcome(buf))
        self.tracker.done(buf.intervals)

    def _deliver(self, rt: RouteRuntime, buf: Buffer, lo: int, hi: int, report: _Report | None
                 ) -> None:  # fmt: skip
        items = buf.items[lo:hi] if lo or hi != len(buf.items) else buf.items
        try:
            rejections = rt.dest.deliver(rt.route, items, rt.send)
        except Refused as exc:
            if hi - lo == 1:
                answer = exc.answer
                self._fail(rt, buf, [lo], answer.code, answer.message, "refused", report)
                return
            mid = lo + (hi - lo) // 2
            self._deliver(rt, buf, lo, mid, report)
            self._deliver(rt, buf, mid, hi, report)
            return
        except RetriesExhausted as exc:
            last = exc.answer
            code = last.code if last is not None and last.code else "retries_exhausted"
            self._fail(rt, buf, list(range(lo, hi)), code, exc.message, "pending", report)
            return
        refused: set[int] = set()
        for index, answer in rejections:
            refused.add(index)
            self._fail(rt, buf, [lo + index], answer.code, answer.message, "refused", report)
        rt.stats.add(delivered=len(items) - len(refused))
        if report is not None:
            report.ok += [i for i in range(lo, hi) if i - lo not in refused]

    def _fail(self, rt: RouteRuntime, buf: Buffer, indices: list[int], code: Any, message: str,
              kind: str, report: _Report | None) -> None:  # fmt: skip
        """Dead-letter records of a batch; with a ledger also note them pending or refused."""
        self.reject(rt, [buf.records[i] for i in indices], code, message)
        if report is not None:
            report.failed += [(i, kind, str(code), message) for i in indices]
            if kind == "pending":
                rt.stats.add(pending=len(indices))

    def reject(
        self, rt: RouteRuntime, records: list[dict[str, Any]], code: Any, message: str
    ) -> None:
        route = rt.route
        try:
            self.dead.write(route.stream, route.destination, route.type, records, code, message)
        except DeadLetterUnwritable as exc:  # neither delivered nor recorded: stop the run
            stop = StopDelivery(str(exc))
            self.stop(stop)
            raise stop from None
        rt.stats.add(rejected=len(records))

    def _internal_error(
        self, rt: RouteRuntime, records: list[dict[str, Any]], exc: Exception
    ) -> None:
        if not rt.failed_once:
            rt.failed_once = True
            self.logger.error("%s: unexpected error", rt.route.label, exc_info=exc)
        self.reject(rt, records, "internal_error", f"{type(exc).__name__}: {exc}")

    def stop(self, exc: StopDelivery) -> None:
        """Stop the run: the first reason wins; lanes drop what is queued."""
        if self.stopped is None:
            self.stopped = exc
        self.stop_event.set()


class _Report:
    """Indices of one batch's items: delivered, and failed with (kind, code, message)."""

    __slots__ = ("failed", "ok")

    def __init__(self) -> None:
        self.ok: list[int] = []
        self.failed: list[tuple[int, str, str, str]] = []

    def outcome(self, buf: Buffer) -> Outcome:
        marks = _marks(buf, range(len(buf.items)))
        return Outcome(
            delivered=[marks[i] for i in self.ok],
            failed=[(marks[i], kind, code, msg) for i, kind, code, msg in self.failed],
        )


def _marks(buf: Buffer, indices: range) -> list[Mark]:
    """The batch's marks; a stream key (untracked route) becomes a `Mark` when needed."""
    out = []
    for i in indices:
        mark = buf.marks[i] if i < len(buf.marks) else None
        if not isinstance(mark, Mark):
            mark = Mark(mark, key_text(mark), buf.items[i], buf.records[i], "upsert")
        out.append(mark)
    return out
