"""Scenario 5: tap | target, against baseline tap | baseline target."""

from __future__ import annotations

from typing import Any

from benchmarks.harness import (
    EVENTS_PER_PROFILE,
    TARGET,
    Result,
    Settings,
    measured_pair,
    pairs,
    runs_of,
    sampled,
    tap_cmd,
    tap_setup,
    target_cfg,
)
from benchmarks.measure import python_cmd, run_pipeline, sandbox


def pipeline(s: Settings) -> Result:
    """(5) tap | target, against baseline tap | baseline target."""
    res = Result()
    profiles = max(1, s.records // EVENTS_PER_PROFILE)
    with sandbox(profiles=profiles, events_per_profile=EVENTS_PER_PROFILE) as box:
        tcfg, catalog = tap_setup(box, s, profiles, "s5")
        gcfg = target_cfg(box, s, "s5")
        base, ours = measured_pair(
            box,
            lambda: run_pipeline(
                [
                    python_cmd("benchmarks.baselines", "tap", "--config", str(tcfg)),
                    python_cmd("benchmarks.baselines", "target", "--config", str(gcfg)),
                ],
                workdir=s.workdir,
            ),
            lambda: run_pipeline(
                [tap_cmd(tcfg, catalog), [TARGET, "--config", str(gcfg)]], workdir=s.workdir
            ),
            s.repeat,
        )
    n = profiles * EVENTS_PER_PROFILE

    def ours_rps(r: dict[str, Any]) -> float | None:
        return n / r["wall_s"] if r["ok"] and r["delivered"] >= n else None

    samples = pairs(ours, base, ours_rps)
    samples = [(o, n / b["wall_s"] if b["ok"] else None)
               for (o, _), b in zip(samples, runs_of(base), strict=False)]  # fmt: skip
    res.details.update(records=n, baseline=base, ours=ours)
    res.rows.append(
        sampled(
            "5 tap | target",
            "records/s",
            samples,
            "",
            None,
            f"{n} events; delivered {ours['delivered']}; "
            f"RSS tap {ours['peak_rss_mb'][0]:.0f} / target "
            f"{ours['peak_rss_mb'][-1]:.0f} MiB",
        )
    )
    return res
