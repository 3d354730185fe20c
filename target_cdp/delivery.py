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
import threading
import time
from typing import Any

from target_cdp.batching import Batching
from target_cdp.deadletter import DeadLetters
from target_cdp.lanes import BatchDelivery, Buffer, Lane, RouteRuntime
from target_cdp.ledger.digest import key_text
from target_cdp.ledger.memory import Mark, RouteMemory
from target_cdp.ledger.store import LedgerError
from target_cdp.ledger_delivery import LedgerDelivery
from target_cdp.sender import (
    Aborted,
    CredentialsRefused,
    RetriesExhausted,
    StopDelivery,
)
from target_cdp.state import Interval, StateTracker
from target_cdp.vendors.base import ConfigError, RecordError

__all__ = [
    "Aborted",
    "CredentialsRefused",
    "Lane",
    "Pipeline",
    "RetriesExhausted",
    "RouteRuntime",
    "StopDelivery",
]


class Pipeline(LedgerDelivery, BatchDelivery, Batching):
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
        with self._lock:
            interval = self.tracker.open
            for rt in routes:
                rt.stats.received += 1
                self._route_record(rt, record, key, slot, interval, version)

    def submit_many(
        self,
        routes: list[RouteRuntime],
        records: list[dict[str, Any]],
        keys: list[Any],
        versions: list[Any],
    ) -> None:
        """`submit` for records of one stream in input order: each route prepares and batches
        them together (fewer steps a record); a route that refuses one of them, or a key that
        cannot be hashed, takes `submit`'s path record by record, with the same outcome."""
        if self.stopped is not None:
            raise self.stopped
        try:
            slots = [next(self._round_robin) if key is None else hash(key) for key in keys]
        except TypeError:  # a key property holding an array or an object
            for record, key, version in zip(records, keys, versions, strict=True):
                self.submit(routes, record, key, version)
            return
        with self._lock:
            interval = self.tracker.open
            for rt in routes:
                rt.stats.received += len(records)
                self._route_many(rt, records, keys, slots, interval, versions)

    def _route_many(
        self,
        rt: RouteRuntime,
        records: list[dict[str, Any]],
        keys: list[Any],
        slots: list[int],
        interval: Interval,
        versions: list[Any],
    ) -> None:
        prepare, batch_key, route = rt.prepare, rt.dest.batch_key, rt.route
        try:
            items = [prepare(record) for record in records]
            bkeys = [batch_key(route, item) for item in items]
        except Exception:  # `_route_record` says what it was, record by record
            for i, record in enumerate(records):
                self._route_record(rt, record, keys[i], slots[i], interval, versions[i])
            return
        memory = rt.memory
        if memory is None or not memory.tracks:
            marks = None if memory is None else keys  # untracked: the stream key
            self._enqueue_together(rt, slots, keys, items, bkeys, records, interval, marks)
            return
        marks = memory.mark_many(keys, items, records, versions)
        sends = memory.decide_many(marks)
        if sends is None:
            for mark, bkey, slot in zip(marks, bkeys, slots, strict=True):
                self._to_window(rt, memory, mark, bkey, slot, interval)
            return
        if not all(sends):  # unchanged (in flight already): done without a send
            kept = [i for i, send in enumerate(sends) if send]
            slots = [slots[i] for i in kept]
            keys, items, bkeys = ([seq[i] for i in kept] for seq in (keys, items, bkeys))
            records, marks = [records[i] for i in kept], [marks[i] for i in kept]
        self._enqueue_together(rt, slots, keys, items, bkeys, records, interval, marks)

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
        try:
            item = rt.prepare(record)  # `fields`, then the destination's `prepare`
            bkey = rt.dest.batch_key(rt.route, item)
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
        if clear is None:
            send = memory.decide(mark)
            if send is not None:
                if send:
                    self._enqueue(rt, slot, key, item, bkey, record, interval, mark)
                return
        self._to_window(rt, memory, mark, bkey, slot, interval)

    def _to_window(
        self, rt: RouteRuntime, memory: RouteMemory, mark: Mark, bkey: Any, slot: int,
        interval: Interval,
    ) -> None:  # fmt: skip
        """Hold a mark in its route's diff window; batch what a full window decides to send."""
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
            elif rt.memory is not None:
                rt.memory.count_decided()
        for rt in self.routes:
            for lane_no, open_ in enumerate(rt.buffers):
                for buf in list(open_.values()):
                    self._flush(rt, lane_no, buf)

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
            for rt in self.routes:  # a stopped run's figures too
                if rt.memory is not None:
                    rt.memory.count_decided()
        for lane in self.lanes:
            lane.queue.put(None)
        for lane in self.lanes:
            lane.join()
        for sender in {id(rt.sender): rt.sender for rt in self.routes}.values():
            sender.close()
        self._flush_writers()
        if self.stopped is not None:
            self._park(self.stopped.message)
