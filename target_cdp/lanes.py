"""Lanes: a route at run time with its lanes and open batches, one thread per lane delivering
its batches in order, and the delivery of one batch (refused batches split in halves down to
the record refused, dead letters, the outcome the ledger records before the batch's records
count as done)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from target_cdp.deadletter import DeadLetters, DeadLetterUnwritable
from target_cdp.ledger.digest import key_text
from target_cdp.ledger.memory import Mark, Outcome, RouteMemory
from target_cdp.ledger.store import LedgerError
from target_cdp.routes import Route
from target_cdp.sender import RetriesExhausted, Sender, StopDelivery
from target_cdp.state import Interval, StateTracker
from target_cdp.summary import RouteStats
from target_cdp.vendors.base import Destination, Refused, Send

_QUEUE_BATCHES = 4  # batches waiting per lane before the reader blocks (backpressure)


class Buffer:
    """An open batch: items of one route, lane and batch key."""

    __slots__ = ("bkey", "intervals", "items", "keys", "marks", "records", "size", "tracked",
                 "writes")  # fmt: skip

    def __init__(self, bkey: Any, size: int, tracked: bool = False) -> None:
        self.bkey = bkey
        self.size = max(1, size)
        self.items: list[Any] = []
        self.records: list[dict[str, Any]] = []
        self.intervals: list[Interval] = []
        self.keys: list[Any] = []  # stream keys, repeats allowed (see `RouteRuntime.owners`)
        self.marks: list[Any] = []  # with a ledger: a `Mark`, or the stream key (untracked)
        self.writes = False  # some mark is a `Mark`: its outcome has rows for the ledger
        self.tracked = tracked  # every mark is a `Mark` (a route that diffs or deletes missing)


class Lane(threading.Thread):
    """One worker delivering its queued batches strictly one after another."""

    def __init__(self, pipeline: BatchDelivery, name: str) -> None:
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


@dataclass
class RouteRuntime:
    """A route with its destination, sender, counters and open buffers (one dict per lane)."""

    route: Route
    dest: Destination
    sender: Sender
    lanes: list[Lane]
    stats: RouteStats
    buffers: list[dict[Any, Buffer]] = field(default_factory=list)
    owners: list[dict[Any, Buffer]] = field(default_factory=list)  # per lane: key -> open batch
    send: Send = field(init=False)  # set below: the sender bound to this route
    prepare: Callable[[dict[str, Any]], Any] = field(init=False)  # record -> item (`preparer`)
    failed_once: bool = False
    memory: RouteMemory | None = None

    def __post_init__(self) -> None:
        self.buffers = [{} for _ in self.lanes]
        self.owners = [{} for _ in self.lanes]
        self.send = partial(self.sender.send, stats=self.stats, route=self.route.label)
        self.prepare = self.dest.preparer(self.route)


class BatchDelivery:
    """The lane side of `Pipeline`: one batch delivered, its records accounted for."""

    tracker: StateTracker
    dead: DeadLetters
    logger: logging.Logger
    stopped: StopDelivery | None
    stop_event: threading.Event
    dropped: list[tuple[RouteRuntime, Buffer]]

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
        memory = rt.memory
        untracked = memory is not None and not memory.tracks
        if report is not None and untracked and not (buf.writes or report.failed):
            self.tracker.done(buf.intervals)  # no row for the ledger: done now
            return
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
        except Refused as whole:
            if hi - lo == 1:
                answer = whole.answer
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
        for index, rejected in rejections:
            refused.add(index)
            self._fail(rt, buf, [lo + index], rejected.code, rejected.message, "refused", report)
        rt.stats.add(delivered=len(items) - len(refused))
        if report is not None:
            report.ok += [i for i in range(lo, hi) if i - lo not in refused] if refused else (
                range(lo, hi))  # fmt: skip

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
        marks = _marks(buf)
        if not self.failed and len(self.ok) == len(marks):  # all delivered, in order
            return Outcome(delivered=marks)
        return Outcome(
            delivered=[marks[i] for i in self.ok],
            failed=[(marks[i], kind, code, msg) for i, kind, code, msg in self.failed],
        )


def _marks(buf: Buffer) -> list[Mark]:
    """The batch's marks, one an item; a stream key (untracked route) becomes a `Mark`."""
    if buf.tracked:  # every mark is a `Mark` already
        return buf.marks
    out = []
    for i in range(len(buf.items)):
        mark = buf.marks[i] if i < len(buf.marks) else None
        if not isinstance(mark, Mark):
            mark = Mark(mark, key_text(mark), buf.items[i], buf.records[i], "upsert")
        out.append(mark)
    return out
