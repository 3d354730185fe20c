"""STATE bookkeeping: a state is emitted only once every record received before it is done.

Records are tallied into *intervals*: the records received between two STATE messages. The
main thread counts what it submits into the open interval (no lock: only it writes
`submitted`); delivery threads count what finished, under one lock. When a STATE arrives the
open interval is closed with that state. Closed intervals leave in order once all their
records are done, and the newest state among them is written to stdout.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any


class Interval:
    """The records received between two STATE messages."""

    __slots__ = ("closed_at", "done", "state", "submitted")

    def __init__(self) -> None:
        self.submitted = 0  # written by the main thread only
        self.done = 0  # written under the tracker lock only
        self.state: Any = None
        self.closed_at = 0.0  # when its STATE arrived (time.monotonic())


class StateTracker:
    """Holds back each STATE until the records before it are delivered or dead-lettered."""

    def __init__(self, write: Callable[[Any], None]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._closed: deque[Interval] = deque()
        self.open = Interval()
        self.last_emitted: Any = None

    @property
    def waiting(self) -> bool:
        """True while some received STATE is still held back."""
        return bool(self._closed)

    def checkpoint(self, state: Any) -> None:
        """A STATE message arrived: close the open interval with it."""
        with self._lock:
            interval, self.open = self.open, Interval()
            interval.state = state
            interval.closed_at = time.monotonic()
            self._closed.append(interval)
            self._emit_ready()

    def done(self, intervals: Iterable[Interval]) -> None:
        """Records (one entry each, repeats allowed) are delivered or dead-lettered."""
        with self._lock:
            for interval in intervals:
                interval.done += 1
            self._emit_ready()

    def _emit_ready(self) -> None:
        latest = None
        found = False
        while self._closed and self._closed[0].done >= self._closed[0].submitted:
            latest, found = self._closed.popleft().state, True
        if found and latest != self.last_emitted:
            self._write(latest)
            self.last_emitted = latest

    def oldest_held(self) -> tuple[int, float | None]:
        """`(STATE messages held back, seconds the oldest has waited)` (for progress lines)."""
        with self._lock:
            if not self._closed:
                return 0, None
            return len(self._closed), time.monotonic() - self._closed[0].closed_at

    @property
    def held(self) -> int:
        """STATE messages not emitted (for the end-of-run log)."""
        with self._lock:
            return len(self._closed)
