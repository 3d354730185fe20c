"""Per-route counters and the end-of-run summary (a log line, optionally a JSON file)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_cdp.deadletter import utc_now

COUNTERS = ("received", "delivered", "rejected", "requests", "retries")


@dataclass
class RouteStats:
    """What happened to one route's records; updated from several threads."""

    label: str
    received: int = 0
    delivered: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.label, **{k: getattr(self, k) for k in COUNTERS}}

    def line(self) -> str:
        return f"{self.label}: " + ", ".join(f"{k} {getattr(self, k)}" for k in COUNTERS)


def summary_line(
    routes: list[RouteStats], ignored: dict[str, int], status: str, dry_run: bool
) -> str:
    """The last log line: every route's counters, the ignored streams, the outcome."""
    parts = [r.line() for r in routes] or ["no routes received records"]
    if ignored:
        parts.append(
            "ignored (unmapped): " + ", ".join(f"{s} {n}" for s, n in sorted(ignored.items()))
        )
    mode = " (dry run: nothing sent)" if dry_run else ""
    return f"Summary{mode} [{status}] " + " | ".join(parts)


def write_json(
    path: str | Path,
    routes: list[RouteStats],
    ignored: dict[str, int],
    status: str,
    extra: dict[str, Any],
) -> None:
    """The same summary as a JSON document."""
    doc = {
        "finished_at": utc_now(),
        "status": status,
        "routes": [r.as_dict() for r in routes],
        "ignored_streams": ignored,
        "totals": {k: sum(getattr(r, k) for r in routes) for k in COUNTERS},
        **extra,
    }
    target = Path(path)
    if target.parent != Path():
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
