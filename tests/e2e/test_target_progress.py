"""target-cdp's progress lines over a real slow run: rate, batches in flight, the STATE held
back and for how long, retries, and "rate-limited" when `requests_per_second` or HTTP 429 slow
a route down; none with `progress_seconds: 0`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from cdp_demo.pipeline import BIN

ROOT = Path(__file__).resolve().parents[2]
ROUTE = "orders -> dmartech:event"
ROUTE_CONFIG = {
    "stream": "orders",
    "destination": "dmartech",
    "type": "event",
    "event_name": "OrderCreated",
    "event_id_property": "id",
    "create_time_property": "at",
    "fields": {"mobile": "phone", "id": "id", "at": "at"},
}


def _input(n: int) -> str:
    schema = {
        "type": "SCHEMA",
        "stream": "orders",
        "key_properties": ["id"],
        "schema": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "phone": {"type": "string"},
                "at": {"type": "string", "format": "date-time"},
            },
        },
    }
    lines = [schema]
    for i in range(n):
        lines.append({"type": "RECORD", "stream": "orders",
                      "record": {"id": f"o{i}", "phone": f"09{i:08d}",
                                 "at": "2024-05-01T10:00:00Z"}})  # fmt: skip
        if i == n // 2:
            lines.append({"type": "STATE", "value": {"at": i}})
    lines.append({"type": "STATE", "value": {"at": n}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def _run(sandbox, tmp_path: Path, **extra) -> subprocess.CompletedProcess:
    config = {
        "dmartech": {
            "api_url": sandbox.url,
            "secret": sandbox.credentials.dmartech_secret,
            "batch_size": 5,
            "requests_per_second": extra.pop("rps", None),
        },
        "mappings": [ROUTE_CONFIG],
        "max_concurrency": 1,
        "ledger_uri": "none",
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        **extra,
    }
    config["dmartech"] = {k: v for k, v in config["dmartech"].items() if v is not None}
    path = tmp_path / "target.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [str(BIN / "target-cdp"), "--config", str(path)],
        input=_input(120),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
    )


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| Progress " in line]


def test_a_slow_rate_limited_run_shows_rate_in_flight_state_and_throttling(sandbox, tmp_path):
    sandbox.set_faults(latency_ms=40)
    done = _run(sandbox, tmp_path, progress_seconds=0.3, rps=8)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = _lines(done.stderr)
    route_lines = [x for x in lines if ROUTE in x]
    assert len(route_lines) >= 2, done.stderr[-3000:]
    delivered = [
        int(re.search(r"delivered ([\d,]+)", x).group(1).replace(",", "")) for x in route_lines
    ]
    assert delivered == sorted(delivered) and delivered[-1] > delivered[0]
    assert all(re.search(rf"{re.escape(ROUTE)}: received [\d,]+, .*?/s, \d+ batch", x)
               for x in route_lines)  # fmt: skip
    assert any("rate-limited (waited" in x for x in route_lines)
    assert any(re.search(r"STATE: \d+ held back for \d+s", x) for x in lines)
    assert "Traceback" not in done.stderr


def test_progress_seconds_zero_gives_no_progress_line(sandbox, tmp_path):
    done = _run(sandbox, tmp_path, progress_seconds=0)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not _lines(done.stderr)


def test_batches_in_flight_count_what_is_queued_or_sending_while_the_queue_is_full(
    sandbox, tmp_path
):
    """One lane, slow answers: the reader waits on a full sending queue. The count never
    exceeds what can be in flight: 4 queued + 1 sending + 1 being handed over."""
    sandbox.set_faults(latency_ms=300)
    done = _run(sandbox, tmp_path, progress_seconds=0.3)
    assert done.returncode == 0, done.stderr[-3000:]
    counts = [
        int(m.group(1))
        for x in _lines(done.stderr)
        if ROUTE in x and (m := re.search(r"(\d+) batch(?:es)? in flight", x))
    ]
    assert counts, done.stderr[-3000:]
    assert max(counts) >= 4, counts  # the queue was full at some point
    assert max(counts) <= 6, counts
