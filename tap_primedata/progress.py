"""Progress a person can read while a stream runs: one INFO line every `progress_seconds`.

    Progress events: 1,200 of 2,000 lookups (60%), 5,310 records, 1,870 requests, 2 retries,
    0 skipped; 38.5 lookups/s, ETA 21s

The same figures ride on the log record as `progress` (a JSON field with the SDK's structured
logging), and end the stream as its summary line. A daemon thread writes the lines, so a
stalled PrimeData still shows up as a line whose counts do not move.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any


def _eta(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class StreamProgress:
    """Reads a stream's counters (`counts()`) and logs them every `every` seconds."""

    def __init__(
        self,
        stream: str,
        every: float,
        counts: Callable[[], Mapping[str, int]],
        total: int | None,
        logger: logging.Logger,
        *,
        approximate: bool = False,
    ) -> None:
        self.stream, self.every, self.counts, self.logger = stream, every, counts, logger
        self.total, self.approximate = total, approximate
        self.started = self._last_at = time.monotonic()
        self._last_done = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> StreamProgress:
        if self.every > 0 and self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"progress-{self.stream}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.log()

    def figures(self, *, final: bool = False) -> dict[str, Any]:
        """The counters, the rate since the last line (overall when `final`) and the ETA."""
        counts = dict(self.counts())
        now = time.monotonic()
        done = counts.get("lookups_done", 0)
        since = self.started if final else self._last_at
        previous = 0 if final else self._last_done
        rate = (done - previous) / max(now - since, 1e-6)
        self._last_at, self._last_done = now, done
        total = self.total
        if total is not None and done > total:
            total = done  # an approximate total ran out
        remaining = None if total is None else max(total - done, 0)
        eta = remaining / rate if remaining is not None and rate > 0 else None
        skipped = sum(v for k, v in counts.items() if k.startswith("skipped_"))
        return {
            "stream": self.stream,
            "lookups_done": done,
            "lookups_total": total,
            "lookups_total_approximate": self.approximate,
            "records": counts.get("records", 0),
            "requests": counts.get("requests", 0),
            "retries": counts.get("retries", 0),
            "skipped": skipped,
            "lookups_per_s": round(rate, 2),
            "eta_s": None if eta is None else round(eta, 1),
            "elapsed_s": round(now - self.started, 1),
        }

    @staticmethod
    def line(f: Mapping[str, Any]) -> str:
        total = f["lookups_total"]
        if total is None:
            of = f"{f['lookups_done']:,} of ? lookups"
        else:
            mark = "~" if f["lookups_total_approximate"] else ""
            share = f" ({100 * f['lookups_done'] / total:.0f}%)" if total else ""
            of = f"{f['lookups_done']:,} of {mark}{total:,} lookups{share}"
        text = (
            f"{of}, {f['records']:,} records, {f['requests']:,} requests, "
            f"{f['retries']:,} retries, {f['skipped']:,} skipped; "
            f"{f['lookups_per_s']:,.1f} lookups/s"
        )
        if f["eta_s"] is not None:
            text += f", ETA {_eta(f['eta_s'])}"
        return text

    def log(self) -> None:
        figures = self.figures()
        self.logger.info(
            "Progress %s: %s", self.stream, self.line(figures), extra={"progress": figures}
        )

    def finish(self) -> None:
        """Stop the thread; log the stream's figures over the whole run."""
        self.stop()
        figures = self.figures(final=True)
        figures["eta_s"] = None
        self.logger.info(
            "Stream %s done in %s: %s",
            self.stream,
            _eta(figures["elapsed_s"]),
            self.line(figures),
            extra={"progress": figures},
        )
