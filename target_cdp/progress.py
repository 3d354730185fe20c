"""Progress lines during long runs: every `progress_seconds`, one line per route that has
received records, and one for the STATE held back, if any:

    Progress events -> dmartech:event: received 12,000, delivered 11,400, rejected 0,
    1,140/s, 3 batches in flight, 2 retries, rate-limited (waited 3.2s for requests_per_second)
    Progress STATE: 1 held back for 4s (waiting for its records' delivery)

"rate-limited" names HTTP 429 answers or the wait `requests_per_second` imposed in the
interval. The figures ride on each log record as `progress` (JSON fields with the SDK's
structured logging). A daemon thread writes them, so a stalled destination shows as counts
that do not move.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from target_cdp.state import StateTracker
from target_cdp.summary import RouteStats


class RouteProgress:
    """Logs every `every` seconds from a daemon thread until stopped."""

    def __init__(
        self,
        every: float,
        routes: Callable[[], list[RouteStats]],
        logger: logging.Logger,
        tracker: StateTracker | None = None,
    ) -> None:
        self.every = every
        self.routes = routes
        self.logger = logger
        self.tracker = tracker
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: dict[str, tuple[int, int, int, float]] = {}
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

    def figures(self) -> dict[str, Any]:
        """Per route: counts, records a second and retries since the last line, batches in
        flight, throttling; and the STATE messages held back."""
        now = time.monotonic()
        elapsed = max(now - self._last_at, 1e-6)
        self._last_at = now
        routes = []
        for stats in self.routes():
            delivered, retries, throttled, waited = self._last.get(stats.label, (0, 0, 0, 0.0))
            self._last[stats.label] = (
                stats.delivered,
                stats.retries,
                stats.throttled,
                stats.throttle_wait,
            )
            routes.append(
                {
                    "route": stats.label,
                    "received": stats.received,
                    "delivered": stats.delivered,
                    "rejected": stats.rejected,
                    "unchanged": stats.unchanged,
                    "records_per_s": round((stats.delivered - delivered) / elapsed, 1),
                    "in_flight_batches": max(stats.in_flight, 0),
                    "retries": stats.retries - retries,
                    "http_429": stats.throttled - throttled,
                    "throttle_wait_s": round(stats.throttle_wait - waited, 2),
                }
            )
        held, age = self.tracker.oldest_held() if self.tracker is not None else (0, None)
        return {
            "routes": routes,
            "state_held": held,
            "state_held_s": None if age is None else round(age, 1),
        }

    @staticmethod
    def _route_text(r: dict[str, Any]) -> str:
        text = (
            f"{r['route']}: received {r['received']:,}, delivered {r['delivered']:,}, "
            f"rejected {r['rejected']:,}"
        )
        if r["unchanged"]:
            text += f", unchanged {r['unchanged']:,}"
        batches = r["in_flight_batches"]
        text += f", {r['records_per_s']:,.0f}/s, {batches} batch{'es' if batches != 1 else ''}"
        text += " in flight"
        if r["retries"]:
            text += f", {r['retries']} retries"
        why = []
        if r["http_429"]:
            why.append(f"{r['http_429']} x HTTP 429")
        if r["throttle_wait_s"] >= 0.05:
            why.append(f"waited {r['throttle_wait_s']:.1f}s for requests_per_second")
        if why:
            text += f", rate-limited ({', '.join(why)})"
        return text

    def log(self) -> None:
        """One line per route that has received records, then one for the STATE held back."""
        figures = self.figures()
        for route in figures["routes"]:
            if route["received"]:
                self.logger.info("Progress %s", self._route_text(route), extra={"progress": route})
        if figures["state_held"]:
            self.logger.info(
                "Progress STATE: %d held back for %.0fs (waiting for its records' delivery)",
                figures["state_held"],
                figures["state_held_s"],
                extra={"progress": {k: v for k, v in figures.items() if k != "routes"}},
            )
