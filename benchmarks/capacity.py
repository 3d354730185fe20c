"""The sandbox's own capacity, so a figure can be told apart from a sandbox bottleneck.

Bounded loops of raw requests (no parsing of the answers) from `concurrency` threads.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import psutil
import requests

from benchmarks import configs
from benchmarks.baselines import _item
from benchmarks.measure import SandboxProcess

MAX_REQUESTS = 3_000
MAX_SECONDS = 8.0


def _hammer(
    url: str, bodies: list[bytes], headers: dict[str, str], concurrency: int
) -> tuple[int, int, float]:
    """POST the bodies (round robin) until MAX_REQUESTS or MAX_SECONDS; (requests, bytes, s)."""
    local = threading.local()
    deadline = time.monotonic() + MAX_SECONDS
    sent = [0, 0]
    lock = threading.Lock()

    def worker(offset: int) -> None:
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        i = offset
        while time.monotonic() < deadline:
            with lock:
                if sent[0] >= MAX_REQUESTS:
                    return
                sent[0] += 1
            resp = session.post(url, data=bodies[i % len(bodies)], headers=headers)
            resp.raise_for_status()
            with lock:
                sent[1] += len(resp.content)
            i += concurrency

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    return sent[0], sent[1], time.perf_counter() - start


def _cpu_s(box: SandboxProcess) -> float:
    """CPU seconds the sandbox process has used so far."""
    assert box.proc is not None
    times = psutil.Process(box.proc.pid).cpu_times()
    return times.user + times.system


def events_capacity(box: SandboxProcess, tap_config: Path, concurrency: int) -> dict[str, Any]:
    """First pages (100 events) of the configured profiles, as fast as the sandbox serves them.

    Twice: the first pass pays for generating each profile's events (the workspace caches
    them), the second is what the measured runs meet.
    """
    cfg = json.loads(tap_config.read_text())
    bodies = [
        orjson.dumps({"profile_id": p, "limit": 100, "sort": "asc"})
        for p in cfg["profile_ids"][:MAX_REQUESTS]
    ]
    headers = {"x-api-key": cfg["api_key"], "Content-Type": "application/json"}
    url = f"{box.url}/pub/events/advanced-search"
    cold = _hammer(url, bodies, headers, concurrency)  # generates each profile's events once
    cpu = _cpu_s(box)
    n, size, secs = _hammer(url, bodies, headers, concurrency)  # as the measured runs see it
    cpu = _cpu_s(box) - cpu
    return {
        "cold_requests_per_s": cold[0] / cold[2],
        "server_requests_per_cpu_s": n / cpu if cpu else None,
        "requests": n,
        "seconds": round(secs, 3),
        "requests_per_s": n / secs,
        "records_per_s": n * 100 / secs,
        "mean_page_bytes": size // max(1, n),
        "concurrency": concurrency,
    }


def dmartech_capacity(
    box: SandboxProcess, data: Path, batch_size: int, concurrency: int
) -> dict[str, Any]:
    """`event_batch` posts of `batch_size` items taken from the Singer file."""
    fields = configs.target_config(box, 1, batch_size, data.parent)["mappings"][0]["fields"]
    items: list[dict[str, Any]] = []
    with open(data, "rb") as f:
        for line in islice(f, batch_size * 40):
            msg = orjson.loads(line)
            if msg.get("type") == "RECORD":
                items.append(_item(msg["record"], fields))
    bodies = [
        orjson.dumps(
            {"type": "event_batch", "event": "PageView", "properties": items[i : i + batch_size]}
        )
        for i in range(0, len(items) - batch_size + 1, batch_size)
    ]
    url = f"{box.url}{configs.DMARTECH_PATH}?secret={configs.CREDS.dmartech_secret}"
    cpu = _cpu_s(box)
    n, _, secs = _hammer(url, bodies, {"Content-Type": "application/json"}, concurrency)
    cpu = _cpu_s(box) - cpu
    box.reset()
    return {
        "server_requests_per_cpu_s": n / cpu if cpu else None,
        "requests": n,
        "seconds": round(secs, 3),
        "requests_per_s": n / secs,
        "records_per_s": n * batch_size / secs,
        "batch_size": batch_size,
        "concurrency": concurrency,
    }
