"""What the demo shows at the end: the target's per-route summary and what each of the
sandbox's destinations now holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from cdp_demo.pipeline import Run


def received_summary(url: str) -> dict[str, Any]:
    """`GET /_sandbox/received?summary=1`: what each destination holds, lists as counts."""
    answer = requests.get(f"{url}/_sandbox/received", params={"summary": 1}, timeout=30)
    summary: dict[str, Any] = answer.json()
    return summary


ROUTE_COLUMNS = ("received", "delivered", "rejected", "requests", "retries")


def _route_table(summary_path: Path) -> list[str]:
    """The target's per-route summary (its `summary_path` JSON) as a table."""
    if not summary_path.exists():
        return []
    doc = json.loads(summary_path.read_text())
    width = max([len(r["route"]) for r in doc.get("routes", [])] + [5])
    head = f"  {'route':<{width}}" + "".join(f"{c:>11}" for c in ROUTE_COLUMNS)
    rows = [
        f"  {r['route']:<{width}}" + "".join(f"{r.get(c, 0):>11}" for c in ROUTE_COLUMNS)
        for r in doc.get("routes", [])
    ]
    ignored = doc.get("ignored_streams") or {}
    extra = [f"  ignored (no route): {ignored}"] if ignored else []
    return [f"target-cdp delivered ({doc.get('status', '?')}):", head, *rows, *extra, ""]


def _holdings(held: dict[str, Any]) -> str:
    """`200 users, 4000 events, ...` from a destination's `counts`."""
    counts = held.get("counts", {})
    return ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()) or "nothing"


def summary_lines(run: Run, summary: dict[str, Any], summary_path: Path) -> list[str]:
    """A readable report: the target's per-route summary, then each destination's holdings."""
    lines = [
        f"pipeline finished in {run.seconds:.1f} s "
        f"(tap exit {run.tap_code}, target exit {run.target_code})",
        "",
        *_route_table(summary_path),
        "the sandbox's destinations now hold (GET /_sandbox/received?summary=1):",
    ]
    for destination, held in summary.get("received", {}).items():
        lines.append(f"  {destination:<10} {_holdings(held)}")
    calls = summary.get("calls", {})
    if calls:
        lines.append("  API calls: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))
    return lines
