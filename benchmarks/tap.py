"""Scenarios 1 and 2: the tap's `events` stream against the plain-Python baseline tap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.capacity import events_capacity
from benchmarks.harness import (
    EVENTS_PER_PROFILE,
    SDK_TAP_RPS,
    Result,
    Row,
    Settings,
    latency_rows,
    measured_pair,
    pairs,
    rate,
    sampled,
    tap_cmd,
    tap_setup,
)
from benchmarks.measure import SandboxProcess, python_cmd, run_pipeline, sandbox


def tap_pair(
    box: SandboxProcess, s: Settings, cfg: Path, catalog: Path | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The baseline tap and ours over `cfg`, in turns, `s.repeat` times."""
    return measured_pair(
        box,
        lambda: run_pipeline(
            [python_cmd("benchmarks.baselines", "tap", "--config", str(cfg))], workdir=s.workdir
        ),
        lambda: run_pipeline([tap_cmd(cfg, catalog)], workdir=s.workdir),
        s.repeat,
    )


def tap_throughput(s: Settings) -> Result:
    """(1) tap `events`, no latency: records/s against the baseline doing the same requests."""
    profiles = max(1, s.records // EVENTS_PER_PROFILE)
    res = Result()
    with sandbox(profiles=profiles, events_per_profile=EVENTS_PER_PROFILE) as box:
        cfg, catalog = tap_setup(box, s, profiles, "s1")
        res.details["sandbox_capacity"] = events_capacity(box, cfg, s.concurrency)
        base, ours = tap_pair(box, s, cfg, catalog)
    n = profiles * EVENTS_PER_PROFILE
    samples = pairs(ours, base, lambda r: rate(r["records_out"], r))
    res.details.update(records=n, baseline=base, ours=ours, catalog=bool(catalog))
    res.rows.append(
        sampled(
            "1 tap events",
            "records/s",
            samples,
            "ratio >= 0.8",
            0.8,
            f"{n} events, concurrency {s.concurrency}",
        )
    )
    res.rows.append(
        sampled(
            "1 tap events",
            "records/s vs SDK default",
            [(o, SDK_TAP_RPS) for o, _ in samples],
            ">= 2x 19k",
            2.0,
        )
    )
    cap = res.details["sandbox_capacity"]
    res.rows.append(
        Row(
            "1 sandbox",
            "events pages/s",
            cap["requests_per_s"],
            None,
            "",
            None,
            f"= {cap['records_per_s']:.0f} events/s to one Python client; server side "
            f"{cap['server_requests_per_cpu_s'] or 0:.0f} pages per CPU-second",
        )
    )
    return res


def tap_latency(s: Settings) -> Result:
    """(2) tap with per-request latency: wall time against requests x latency / concurrency."""
    res = Result()
    with sandbox(
        profiles=s.latency_profiles, events_per_profile=EVENTS_PER_PROFILE, latency_ms=s.latency_ms
    ) as box:
        cfg, catalog = tap_setup(box, s, s.latency_profiles, "s2")
        base, ours = tap_pair(box, s, cfg, catalog)
    res.details.update(baseline=base, ours=ours)
    res.rows += latency_rows("2 tap +latency", s, ours, base)
    return res
