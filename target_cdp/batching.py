"""Open batches: prepared records put in the batch of their route, lane and batch key; a full
batch handed to its lane.

A record goes to lane `hash(stream key) % lanes` (keyless: round robin), so records with the
same key are never reordered; a record whose key sits in another open batch of the same route
and lane (another batch key, e.g. an upsert then a delete) flushes that batch first.
"""

from __future__ import annotations

import queue
from itertools import repeat
from operator import itemgetter
from typing import Any

from target_cdp.lanes import Buffer, RouteRuntime
from target_cdp.ledger.marks import Mark
from target_cdp.sender import StopDelivery
from target_cdp.state import Interval


class Batching:
    """The open-batch side of `Pipeline` (main thread, under the pipeline's lock)."""

    stopped: StopDelivery | None

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
        marks = None if rt.memory is None else [mark]
        self._enqueue_many(rt, [slot], [key], [item], [bkey], [record], [interval], marks, counted)

    def _enqueue_many(
        self,
        rt: RouteRuntime,
        slots: list[int],
        keys: list[Any],
        items: list[Any],
        bkeys: list[Any],
        records: list[dict[str, Any]],
        intervals: list[Interval],
        marks: list[Any] | None,
        counted: bool = False,
    ) -> None:
        """Put prepared records in their open batches (`marks`: with a ledger, each record's
        `Mark` or stream key; `counted`: already counted as submitted by a diff window)."""
        lanes, buffers, owners_of = len(rt.lanes), rt.buffers, rt.owners
        tracked = rt.memory is not None and rt.memory.tracks
        for i, item in enumerate(items):
            lane_no = slots[i] % lanes
            open_ = buffers[lane_no]
            bkey = bkeys[i]
            buf = open_.get(bkey)
            if buf is None:
                buf = open_[bkey] = Buffer(bkey, rt.dest.batch_size(rt.route, bkey), tracked)
            key = keys[i]
            if key is not None:  # the key in another open batch of the lane: that one goes first
                owners = owners_of[lane_no]
                other = owners.get(key)
                if other is not None and other is not buf:
                    self._flush(rt, lane_no, other)
                owners[key] = buf
                buf.keys.append(key)
            buf.items.append(item)
            buf.records.append(records[i])
            interval = intervals[i]
            buf.intervals.append(interval)
            if marks is not None:
                mark = marks[i]
                buf.marks.append(mark)
                if type(mark) is Mark:
                    buf.writes = True
            if not counted:
                interval.submitted += 1
            if len(buf.items) >= buf.size:
                self._flush(rt, lane_no, buf)

    def _enqueue_together(
        self,
        rt: RouteRuntime,
        slots: list[int],
        keys: list[Any],
        items: list[Any],
        bkeys: list[Any],
        records: list[dict[str, Any]],
        interval: Interval,
        marks: list[Any] | None,
    ) -> None:
        """`_enqueue_many` for records of one interval: when they share one batch key and no
        other batch is open in their lanes (no key can sit in another open batch), each lane's
        records are added a slice at a time; otherwise one by one."""
        count = len(items)
        bkey = bkeys[0] if count else None
        lanes, buffers = len(rt.lanes), rt.buffers
        if (
            not count
            or bkeys.count(bkey) != count
            or any(len(open_) > 1 or (open_ and bkey not in open_) for open_ in buffers)
            or (keys[0] is None and keys.count(None) != count)
        ):
            self._enqueue_many(rt, slots, keys, items, bkeys, records, [interval] * count, marks)
            return
        interval.submitted += count
        keyed = keys[0] is not None
        writes = rt.memory is not None and rt.memory.tracks  # every mark is a `Mark`
        size = rt.dest.batch_size(rt.route, bkey)
        if lanes == 1:
            by_lane: list[range | list[int]] = [range(count)]
        else:  # each lane's records in input order (a stable sort by lane)
            lane_of = [slot % lanes for slot in slots]
            order = sorted(range(count), key=lane_of.__getitem__)
            by_lane, at = [], 0
            for lane_no in range(lanes):
                taken = lane_of.count(lane_no)
                by_lane.append(order[at : at + taken])
                at += taken
        for lane_no, chosen in enumerate(by_lane):
            start, total = 0, len(chosen)
            while start < total:
                buf = buffers[lane_no].get(bkey)
                if buf is None:
                    buf = buffers[lane_no][bkey] = Buffer(bkey, size, writes)
                end = min(total, start + buf.size - len(buf.items))
                pick = _picker(chosen[start:end])
                if keyed:
                    part_keys = pick(keys)
                    rt.owners[lane_no].update(zip(part_keys, repeat(buf)))
                    buf.keys += part_keys
                buf.items += pick(items)
                buf.records += pick(records)
                buf.intervals += [interval] * (end - start)
                if marks is not None:
                    buf.marks += pick(marks)
                    buf.writes = buf.writes or writes
                start = end
                if len(buf.items) >= buf.size:
                    self._flush(rt, lane_no, buf)

    def _flush(self, rt: RouteRuntime, lane_no: int, buf: Buffer) -> None:
        """Close `buf` and queue it on its lane (waits while the lane's queue is full)."""
        open_ = rt.buffers[lane_no]
        del open_[buf.bkey]
        owners = rt.owners[lane_no]
        if not open_:  # owners name open batches only: with none left, all were this one's
            owners.clear()
        else:
            for key in buf.keys:
                if owners.get(key) is buf:
                    del owners[key]
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


def _picker(part: range | list[int]) -> Any:
    """A function taking the elements at `part` (in order) of a list, as a list."""
    if isinstance(part, range):
        return lambda seq: seq[part.start : part.stop]
    if len(part) == 1:
        index = part[0]
        return lambda seq: [seq[index]]
    get = itemgetter(*part)
    return lambda seq: list(get(seq))
