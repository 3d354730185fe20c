"""Compact, resumable bookmarks of the `events` stream, kept in its state under `primedata`.

No per-lookup SDK partitions (their linear search makes 100k lookups quadratic). Instead:

- `generations`: lookups fully read up to a run's `end` (`until`); membership is a packed
  set of 64-bit lookup ids (sorted, byte-planed, zlib, base64: ~6 bytes a lookup);
- `partial`: per-lookup entries only for lookups read part of the way:
  `{hex id: [time, [event ids at exactly that time]]}`, i.e. every event before `time`
  and these at `time` were emitted;
- `run` (only in STATE emitted mid-run): the running sync's `end` and the lookups it
  finished; the next run folds it into `generations`, so an interrupted run loses nothing.

`start` is exclusive and timestamps tie, so a resumed lookup asks from one second before
its bookmark and drops what it already emitted (`Bookmark.keep`).
"""

from __future__ import annotations

import base64
import logging
import sys
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tap_primedata import timestamps as ts

STATE_KEY = "primedata"
VERSION = 1
MAX_GENERATIONS = 8
logger = logging.getLogger("tap-primedata")


def pack_ids(ids: Iterable[int]) -> str:
    """A set of unsigned 64-bit ints as compact text (order-independent, deterministic)."""
    values = array("Q", sorted(ids))
    if sys.byteorder == "little":
        values.byteswap()
    raw = values.tobytes()
    planes = b"".join(raw[i::8] for i in range(8))  # high bytes of sorted ids compress well
    return base64.b64encode(zlib.compress(planes, 6)).decode("ascii")


def unpack_ids(text: str) -> set[int]:
    """The inverse of `pack_ids`."""
    planes = zlib.decompress(base64.b64decode(text))
    n = len(planes) // 8
    raw = bytearray(len(planes))
    for i in range(8):
        raw[i::8] = planes[i * n : (i + 1) * n]
    values = array("Q")
    values.frombytes(bytes(raw))
    if sys.byteorder == "little":
        values.byteswap()
    return set(values)


@dataclass(frozen=True, slots=True)
class Bookmark:
    """Where a lookup's events resume.

    `ids is None`: nothing at or before `key` is wanted (an exclusive `start_date`).
    Otherwise everything before `key`, and the events `ids` at `key`, were emitted.
    """

    key: int
    text: str
    ids: frozenset[str] | None = None

    def keep(self, key: int, event_id: str) -> bool:
        """Whether an event at `key` with `event_id` is still to be emitted."""
        if key > self.key:
            return True
        return self.ids is not None and key == self.key and event_id not in self.ids

    def request_start(self) -> str:
        """The exclusive `start` to ask PrimeData for."""
        if self.ids is None:
            return self.text
        moment = ts.from_key(self.key).replace(microsecond=0) - timedelta(seconds=1)
        return ts.format_utc(moment)


class Progress:
    """The newest emitted event time of one lookup in this run, with the ids at that time."""

    __slots__ = ("ids", "key", "text")

    def __init__(self) -> None:
        self.key = -(2**63)
        self.text = ""
        self.ids: set[str] = set()

    def advance(self, key: int, text: str, event_id: str) -> None:
        """Record one emitted event (events arrive in ascending time)."""
        if key > self.key:
            self.key, self.text, self.ids = key, text, {event_id}
        elif key == self.key:
            self.ids.add(event_id)

    def advance_batch(self, batch: list[tuple[int, dict]]) -> None:
        """`advance` for a batch of `(key, record)` in ascending time, in one step."""
        if not batch:
            return
        last = batch[-1][0]
        if last < self.key:
            return
        ids = set() if last > self.key else self.ids
        for key, record in reversed(batch):
            if key != last:
                break
            ids.add(record["id"])
        self.key, self.text, self.ids = last, batch[-1][1]["time_stamp"], ids


@dataclass
class Generation:
    """Lookups fully read up to `until` (exclusive end of the run that read them)."""

    until: str
    ids: set[int]
    packed: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        if self.packed is None:
            self.packed = pack_ids(self.ids)
        return {"until": self.until, "count": len(self.ids), "ids": self.packed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Generation:
        return cls(data["until"], unpack_ids(data["ids"]), data["ids"])


class EventBookmarks:
    """The `events` bookmarks of one run: what to read per lookup, and what to save."""

    def __init__(self, stream_state: dict, start: str | None, end: str) -> None:
        self.start = start
        self.end = end
        self.end_key = ts.to_key(ts.parse(end))
        self.generations: list[Generation] = []
        self.partial: dict[int, Bookmark] = {}
        self.run_done: set[int] = set()
        self.active: dict[int, Progress] = {}
        self._load(stream_state.get(STATE_KEY))

    # loading ---------------------------------------------------------------------------
    def _load(self, raw: Any) -> None:
        if not raw:
            return
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            logger.warning("events state has an unknown format; starting from start_date")
            return
        self.generations = [Generation.from_json(g) for g in raw.get("generations") or []]
        for hex_id, (text, ids) in (raw.get("partial") or {}).items():
            self.partial[int(hex_id, 16)] = Bookmark(
                ts.to_key(ts.parse(text)), text, frozenset(ids)
            )
        run = raw.get("run")
        if run and run.get("ids"):
            self._fold(Generation(run["end"], unpack_ids(run["ids"]), run["ids"]))

    def _fold(self, newest: Generation) -> None:
        """Put `newest` first, taking its lookups out of the older generations."""
        if not newest.ids:
            return
        for generation in self.generations:
            if not generation.ids.isdisjoint(newest.ids):
                generation.ids -= newest.ids
                generation.packed = None
        self.generations = [newest] + [g for g in self.generations if g.ids]
        while len(self.generations) > MAX_GENERATIONS:  # merge the two oldest, keeping the
            older = self.generations.pop()  # earlier `until`: re-reads, never skips
            last = self.generations[-1]
            earliest = min((older, last), key=lambda g: ts.to_key(ts.parse(g.until)))
            self.generations[-1] = Generation(earliest.until, last.ids | older.ids)

    # per lookup ------------------------------------------------------------------------
    def bookmark_for(self, lookup_id: int) -> Bookmark | None:
        """Where this lookup resumes (None: its whole history)."""
        bookmark = self.partial.get(lookup_id)
        if bookmark is not None:
            return bookmark
        for generation in self.generations:
            if lookup_id in generation.ids:
                return Bookmark(
                    ts.to_key(ts.parse(generation.until)), generation.until, frozenset()
                )
        if self.start:
            return Bookmark(ts.to_key(ts.parse(self.start)), self.start)
        return None

    def is_current(self, bookmark: Bookmark | None) -> bool:
        """Whether a lookup at `bookmark` has nothing to read before this run's end."""
        return bookmark is not None and bookmark.key >= self.end_key

    def progress(self, lookup_id: int) -> Progress:
        """The live progress of a lookup being emitted (created on first use)."""
        progress = self.active.get(lookup_id)
        if progress is None:
            progress = self.active[lookup_id] = Progress()
        return progress

    def complete(self, lookup_id: int) -> None:
        """A lookup was read to this run's end: it needs no entry of its own any more."""
        self.run_done.add(lookup_id)
        self.active.pop(lookup_id, None)
        self.partial.pop(lookup_id, None)

    def abandon(self, lookup_id: int) -> None:
        """A lookup was skipped: keep what it emitted as a partial entry."""
        progress = self.active.pop(lookup_id, None)
        if progress is not None and progress.ids:
            self.partial[lookup_id] = Bookmark(progress.key, progress.text, frozenset(progress.ids))

    # saving ----------------------------------------------------------------------------
    def _partial_json(self) -> dict[str, list]:
        entries = {f"{k:016x}": [b.text, sorted(b.ids or ())] for k, b in self.partial.items()}
        for lookup_id, progress in self.active.items():
            if progress.ids:
                entries[f"{lookup_id:016x}"] = [progress.text, sorted(progress.ids)]
        return entries

    def checkpoint(self) -> dict[str, Any]:
        """The state to emit mid-run: covers exactly what was emitted so far."""
        state: dict[str, Any] = {
            "version": VERSION,
            "generations": [g.to_json() for g in self.generations],
            "partial": self._partial_json(),
        }
        if self.run_done:
            state["run"] = {"end": self.end, "count": len(self.run_done),
                            "ids": pack_ids(self.run_done)}  # fmt: skip
        return state

    def finish(self) -> dict[str, Any]:
        """Fold this completed run into the generations; return the final state."""
        self._fold(Generation(self.end, self.run_done))
        self.run_done = set()
        return self.checkpoint()
