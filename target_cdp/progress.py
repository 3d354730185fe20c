"""Progress lines during long runs: records received/delivered per route and the rate."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from target_cdp.summary import RouteStats


class Progress:
    """Logs every `every` seconds from a daemon thread until stopped."""

    def __init__(
        self, every: float, routes: Callable[[], list[RouteStats]], logger: logging.Logger
    ) -> None:
        self.every = every
        self.routes = routes
        self.logger = logger
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: dict[str, int] = {}
        self._last_at = time.monotonic()

    def start(self) -> None:
        if self.every > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="cdp-progress", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.log()

    def log(self) -> None:
        """One line: per route received/delivered/rejected and delivered records a second."""
        now = time.monotonic()
        elapsed = max(now - self._last_at, 1e-6)
        parts = []
        for stats in self.routes():
            done = stats.delivered
            rate = (done - self._last.get(stats.label, 0)) / elapsed
            self._last[stats.label] = done
            parts.append(
                f"{stats.label}: received {stats.received}, delivered {done}, "
                f"rejected {stats.rejected} ({rate:.0f}/s)"
            )
        self._last_at = now
        if parts:
            self.logger.info("Progress: %s", " | ".join(parts))
