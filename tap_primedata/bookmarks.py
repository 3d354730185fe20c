"""Where each lookup's events resume, kept compact in the `events` stream state under `primedata`.

A lookup's bookmark is the newest `time_stamp` emitted for it, with 32-bit fingerprints of the
events emitted at exactly that time (timestamps tie). The next run reads from there, so an
event that reaches PrimeData late, stamped before the previous run's start, is still read,
exactly once. `lookback_window` also re-reads that much before each bookmark (duplicates
allowed there, nowhere else). A lookup with no bookmark reads from `start_date`.

State (version 2): `{"version": 2, "tables": [packed Table, ...]}`, oldest first, a lookup's
newest row winning. A run adds rows only for lookups that emitted something; mid-run STATE
reuses the text of the tables it started from and packs only what changed since, folding
small tables together as they grow (sizes double, so packing work stays proportional to the
changes). A finished run leaves one tight table. Version 1 states (per-run `generations`,
`partial`, `run`) are read as they were written: a lookup resumes at the end of the run that
read it, as release 1 did, and from then on at its newest event.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from array import array
from dataclasses import dataclass
from datetime import timedelta
from itertools import repeat
from typing import Any

from tap_primedata import timestamps as ts
from tap_primedata.packing import Table, unpack_ids

STATE_KEY = "primedata"
VERSION = 2
FREEZE_ROWS = 20_000  # changed lookups kept unpacked before they become a table of their own
logger = logging.getLogger("tap-primedata")


class StateUnreadable(ValueError):
    """The state given with `--state` cannot be read."""


def fingerprint(event_id: str) -> int:
    """A stable 32-bit fingerprint of an event id."""
    return int.from_bytes(hashlib.blake2b(event_id.encode("utf-8"), digest_size=4).digest(), "big")


@dataclass(frozen=True, slots=True)
class Bookmark:
    """Where a lookup's events resume.

    `fps is None`: the `start_date` bound; events after `key` are wanted. Otherwise every event
    before `key` and the events at `key` whose fingerprints are in `fps` were emitted; events
    from `lookback` microseconds before `key` are read again.
    """

    key: int
    fps: frozenset[int] | None = None
    lookback: int = 0

    def keep(self, key: int, event_id: str) -> bool:
        """Whether an event at `key` with `event_id` is to be emitted."""
        if key > self.key:
            return True
        if self.fps is None:
            return False
        if key == self.key:
            return fingerprint(event_id) not in self.fps
        return self.lookback > 0 and key >= self.key - self.lookback

    def request_start(self) -> str:
        """The exclusive `start` to ask PrimeData for."""
        if self.fps is None:
            return ts.format_utc(ts.from_key(self.key))
        moment = ts.from_key(self.key - self.lookback).replace(microsecond=0)
        return ts.format_utc(moment - timedelta(seconds=1))


class _Segment:
    """A table and, once known, its text (reused verbatim by every later STATE)."""

    __slots__ = ("table", "text")

    def __init__(self, table: Table, text: str | None = None) -> None:
        self.table, self.text = table, text

    def packed(self) -> str:
        if self.text is None:
            self.text = self.table.pack()
        return self.text


def _uniform(ids: array[int], key: int) -> Table:
    """A table giving every lookup of the sorted `ids` the same key and no fingerprint."""
    table = Table()
    table.ids = ids
    table.keys = array("q", repeat(key, len(ids)))
    table.offsets = array("I", repeat(0, len(ids) + 1))
    return table


class EventBookmarks:
    """The `events` bookmarks of one run: where each lookup resumes, and what to save."""

    def __init__(
        self,
        stream_state: dict[str, Any],
        start: str | None,
        end: str,
        lookback_seconds: float = 0,
    ) -> None:
        self.start_key = ts.to_key(ts.parse(start)) if start else None
        self.end_key = ts.to_key(ts.parse(end))
        self.lookback = int(lookback_seconds * 1_000_000)
        self.segments: list[_Segment] = []  # oldest first
        self.fresh: dict[int, tuple[int, frozenset[int]]] = {}
        self._loaded_unchanged = True
        self._load(stream_state.get(STATE_KEY))

    # loading ---------------------------------------------------------------------------
    def _load(self, raw: Any) -> None:
        if not raw:
            return
        version = raw.get("version") if isinstance(raw, dict) else None
        try:
            if version == VERSION:
                tables = raw["tables"]
                if not isinstance(tables, list):
                    raise TypeError("tables is not a list")
                self.segments = [_Segment(Table.unpack(t), t) for t in tables]
            elif version == 1:
                self._load_release_1(raw)
                self._loaded_unchanged = False
            else:
                raise StateUnreadable(
                    f"the events bookmarks have an unknown format (version {version!r})"
                )
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            if isinstance(exc, StateUnreadable):
                raise
            raise StateUnreadable(f"the events bookmarks are corrupt ({exc})") from None

    def _load_release_1(self, raw: dict[str, Any]) -> None:
        """Release 1: `generations` (newest first) of lookups read up to a run's end, `run`
        (a run's finished lookups, newer), `partial` (lookups read part way, newest)."""

        def key(text: str) -> int:
            return ts.to_key(ts.parse(text))

        for generation in reversed(raw.get("generations") or []):
            ids = unpack_ids(generation["ids"])
            self.segments.append(_Segment(_uniform(ids, key(generation["until"]))))
        run = raw.get("run")
        if run and run.get("ids"):
            self.segments.append(_Segment(_uniform(unpack_ids(run["ids"]), key(run["end"]))))
        partial = {
            int(hex_id, 16): (key(text), frozenset(fingerprint(i) for i in ids))
            for hex_id, (text, ids) in (raw.get("partial") or {}).items()
        }
        if partial:
            self.segments.append(_Segment(Table.from_rows(partial)))

    # per lookup ------------------------------------------------------------------------
    def bookmark_for(self, lookup_id: int) -> Bookmark | None:
        """Where this lookup resumes (None: its whole history)."""
        for segment in reversed(self.segments):
            found = segment.table.find(lookup_id)
            if found is not None:
                return Bookmark(found[0], frozenset(found[1]), self.lookback)
        if self.start_key is not None:
            return Bookmark(self.start_key)
        return None

    def is_current(self, bookmark: Bookmark | None) -> bool:
        """Whether a lookup at `bookmark` has nothing to read before this run's end."""
        return bookmark is not None and bookmark.key - bookmark.lookback >= self.end_key

    def advance(
        self, lookup_id: int, bookmark: Bookmark | None, batch: list[tuple[int, dict[str, Any]]]
    ) -> None:
        """Record a batch of `(key, record)` just emitted for a lookup, in ascending time
        (records re-read inside the lookback window may be older than the bookmark)."""
        if not batch:
            return
        last = batch[-1][0]
        previous = self.fresh.get(lookup_id)
        if previous is None and bookmark is not None and bookmark.fps is not None:
            previous = (bookmark.key, bookmark.fps)
        if previous is not None and last < previous[0]:
            return
        at_last = {fingerprint(r["id"]) for k, r in reversed(batch) if k == last}
        if previous is not None and last == previous[0]:
            at_last |= previous[1]
        self.fresh[lookup_id] = (last, frozenset(at_last))

    # saving ----------------------------------------------------------------------------
    def _freeze(self) -> None:
        """Turn the changed lookups into a table; fold tables of similar size together."""
        if not self.fresh:
            return
        self.segments.append(_Segment(Table.from_rows(self.fresh)))
        self.fresh = {}
        self._loaded_unchanged = False
        while len(self.segments) >= 2 and 2 * len(self.segments[-1].table) >= len(
            self.segments[-2].table
        ):
            newer, older = self.segments.pop(), self.segments.pop()
            self.segments.append(_Segment(Table.merge([newer.table, older.table])))

    def checkpoint(self) -> dict[str, Any]:
        """The state to emit mid-run: covers exactly what was emitted so far."""
        if len(self.fresh) >= FREEZE_ROWS:
            self._freeze()
        tables = [segment.packed() for segment in self.segments]
        if self.fresh:
            tables.append(Table.from_rows(self.fresh).pack())
        return {"version": VERSION, "tables": tables}

    def finish(self) -> dict[str, Any]:
        """The final state of a completed run: one table."""
        if not self.fresh and self._loaded_unchanged and len(self.segments) <= 1:
            return {"version": VERSION, "tables": [s.packed() for s in self.segments]}
        self._freeze()
        merged = Table.merge([s.table for s in reversed(self.segments)])
        self.segments = [_Segment(merged, merged.pack(tight=True))] if len(merged) else []
        self._loaded_unchanged = True
        return {"version": VERSION, "tables": [s.packed() for s in self.segments]}
