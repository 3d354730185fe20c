"""Per-route counters and the end-of-run summary (a log line, optionally a JSON file)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from target_cdp.deadletter import utc_now

COUNTERS = ("received", "delivered", "unchanged", "rejected", "requests", "retries")
# Shown in the summary line only when not zero; always in the JSON.
LEDGER_COUNTERS = ("added", "changed", "deleted", "retried", "pending")


@dataclass
class RouteStats:
    """What happened to one route's records; updated from several threads."""

    label: str
    received: int = 0
    delivered: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    unchanged: int = 0  # not sent: the ledger says the destination already has it
    added: int = 0  # sent for a key the ledger did not know
    changed: int = 0  # sent for a key whose payload changed
    deleted: int = 0  # deletes sent by delete_missing
    retried: int = 0  # pending records of earlier runs sent again
    pending: int = 0  # left pending in the ledger for the next run
    in_flight: int = 0  # batches handed to a lane and not finished (progress lines only)
    throttled: int = 0  # answers HTTP 429 (progress lines only)
    throttle_wait: float = 0.0  # seconds spent spacing requests (`requests_per_second`)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self.lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.label, **{k: getattr(self, k) for k in COUNTERS + LEDGER_COUNTERS}}

    def line(self) -> str:
        shown = [k for k in LEDGER_COUNTERS if getattr(self, k)]
        return f"{self.label}: " + ", ".join(
            f"{k} {getattr(self, k)}" for k in COUNTERS + tuple(shown)
        )


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
        "totals": {k: sum(getattr(r, k) for r in routes) for k in COUNTERS + LEDGER_COUNTERS},
        **extra,
    }
    target = Path(path)
    if target.parent != Path():
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
