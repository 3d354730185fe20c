"""Delivery: batching per (route, lane, batch key), lanes of ordered batches, refused-batch splits.

Each destination has `max_concurrency` lanes, one thread each, delivering its batches in order.
A record goes to lane `hash(stream key) % lanes`, so records with the same key are never
reordered; a record whose key sits in another open batch of the same route and lane (another
batch key, e.g. an upsert then a delete) flushes that batch first.

A STATE flushes the open batches once `flush_seconds` have passed since the last flush: at
once, or from a timer when the last flush is more recent, so that a STATE is not held back
while the input pauses. The open batches are guarded by one lock for that timer.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from target_cdp.deadletter import DeadLetters
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

    __slots__ = ("bkey", "intervals", "items", "keys", "records", "size")

    def __init__(self, bkey: Any, size: int) -> None:
        self.bkey = bkey
        self.size = max(1, size)
        self.items: list[Any] = []
        self.records: list[dict] = []
        self.intervals: list[Interval] = []
        self.keys: set[Any] = set()


@dataclass
class RouteRuntime:
    """A route with its destination, sender, counters and open buffers (one dict per lane)."""

    route: Route
    dest: Destination
    sender: Sender
    lanes: list[Lane]
    stats: RouteStats
    buffers: list[dict[Any, Buffer]] = field(default_factory=list)
    send: Send | None = None
    failed_once: bool = False

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
            if job is None:
                return
            if self.pipeline.stopped is not None:
                continue
            try:
                self.pipeline.process(*job)
            except Exception as exc:  # e.g. the dead-letter file cannot be written
                self.pipeline.logger.error("%s: delivery failed", self.name, exc_info=exc)
                self.pipeline.stop(StopDelivery(f"delivery failed: {type(exc).__name__}: {exc}"))


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
    def submit(self, routes: list[RouteRuntime], record: dict, key: Any) -> None:
        """Fan one record out to its stream's routes (`key`: the stream key values or None)."""
        with self._lock:
            self._submit(routes, record, key)

    def _submit(self, routes: list[RouteRuntime], record: dict, key: Any) -> None:
        if self.stopped is not None:
            raise self.stopped
        if key is None:
            slot = next(self._round_robin)
        else:
            try:
                slot = hash(key)
            except TypeError:  # a key property holding an array or an object
                key = repr(key)
                slot = hash(key)
        interval = self.tracker.open
        for rt in routes:
            rt.stats.received += 1
            route = rt.route
            values = route.project(record)
            if route.fields is None:
                values.pop("_sdc_deleted_at", None)
            try:
                item = rt.dest.prepare(route, values, record)
                bkey = rt.dest.batch_key(route, item)
            except RecordError as exc:
                self.reject(rt, [record], exc.code, exc.message)
                continue
            except ConfigError:
                raise
            except Exception as exc:  # a vendor bug: keep going, but show it once
                self._internal_error(rt, [record], exc)
                continue
            lane_no = slot % len(rt.lanes)
            open_ = rt.buffers[lane_no]
            buf = open_.get(bkey)
            if buf is None:
                buf = open_[bkey] = Buffer(bkey, rt.dest.batch_size(route, bkey))
            if key is not None:
                if len(open_) > 1:
                    for other in list(open_.values()):
                        if other is not buf and key in other.keys:
                            self._flush(rt, lane_no, other)
                buf.keys.add(key)
            buf.items.append(item)
            buf.records.append(record)
            buf.intervals.append(interval)
            interval.submitted += 1
            if len(buf.items) >= buf.size:
                self._flush(rt, lane_no, buf)

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
            with contextlib.suppress(StopDelivery):  # the run stopped: nothing more is sent
                self.flush_all()

    def flush_all(self) -> None:
        """Send every open batch (callers hold the lock)."""
        self._last_flush = time.monotonic()
        for rt in self.routes:
            for lane_no, open_ in enumerate(rt.buffers):
                for buf in list(open_.values()):
                    self._flush(rt, lane_no, buf)

    def _flush(self, rt: RouteRuntime, lane_no: int, buf: Buffer) -> None:
        del rt.buffers[lane_no][buf.bkey]
        lane = rt.lanes[lane_no]
        while self.stopped is None:
            try:
                lane.queue.put((rt, buf), timeout=0.2)
                return
            except queue.Full:
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
        for lane in self.lanes:
            lane.queue.put(None)
        for lane in self.lanes:
            lane.join()
        for sender in {id(rt.sender): rt.sender for rt in self.routes}.values():
            sender.close()

    # lane threads -----------------------------------------------------------------------
    def process(self, rt: RouteRuntime, buf: Buffer) -> None:
        """Deliver one batch; its records end delivered or dead-lettered (unless the run stops)."""
        try:
            self._deliver(rt, buf.items, buf.records)
        except StopDelivery as exc:
            self.stop(exc)
            return
        except Exception as exc:  # a vendor bug in build/deliver
            self._internal_error(rt, buf.records, exc)
        self.tracker.done(buf.intervals)

    def _deliver(self, rt: RouteRuntime, items: list[Any], records: list[dict]) -> None:
        try:
            rejections = rt.dest.deliver(rt.route, items, rt.send)
        except Refused as refused:
            if len(items) == 1:
                self.reject(rt, records, refused.answer.code, refused.answer.message)
                return
            mid = len(items) // 2
            self._deliver(rt, items[:mid], records[:mid])
            self._deliver(rt, items[mid:], records[mid:])
            return
        except RetriesExhausted as exc:
            answer = exc.answer
            code = answer.code if answer is not None and answer.code else "retries_exhausted"
            self.reject(rt, records, code, exc.message)
            return
        for index, answer in rejections:
            self.reject(rt, [records[index]], answer.code, answer.message)
        rt.stats.add(delivered=len(items) - len({i for i, _ in rejections}))

    def reject(self, rt: RouteRuntime, records: list[dict], code: Any, message: str) -> None:
        route = rt.route
        self.dead.write(route.stream, route.destination, route.type, records, code, message)
        rt.stats.add(rejected=len(records))

    def _internal_error(self, rt: RouteRuntime, records: list[dict], exc: Exception) -> None:
        if not rt.failed_once:
            rt.failed_once = True
            self.logger.error("%s: unexpected error", rt.route.label, exc_info=exc)
        self.reject(rt, records, "internal_error", f"{type(exc).__name__}: {exc}")

    def stop(self, exc: StopDelivery) -> None:
        """Stop the run: the first reason wins; lanes drop what is queued."""
        if self.stopped is None:
            self.stopped = exc
        self.stop_event.set()
