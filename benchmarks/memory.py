"""Scenario 6: peak RSS of the tap and of the target at two input sizes."""

from __future__ import annotations

from benchmarks.harness import (
    EVENTS_PER_PROFILE,
    TARGET,
    Result,
    Row,
    Settings,
    events_file,
    measured,
    tap_cmd,
    tap_setup,
    target_cfg,
)
from benchmarks.measure import run_pipeline, sandbox


def rss_growth(s: Settings) -> Result:
    """(6) peak RSS of the tap and of the target at two sizes; growth must stay under 10%."""
    res = Result()
    small, large = s.rss_sizes
    tap_rss, target_rss = [], []
    for size in (small, large):
        profiles = max(1, size // EVENTS_PER_PROFILE)
        with sandbox(profiles=profiles, events_per_profile=EVENTS_PER_PROFILE) as box:
            cfg, catalog = tap_setup(box, s, profiles, f"s6-{size}")
            info = measured(
                box, lambda c=cfg, k=catalog: run_pipeline([tap_cmd(c, k)], workdir=s.workdir)
            )
        tap_rss.append(info)
        data = events_file(s, size)
        with sandbox(profiles=10, events_per_profile=10) as box:
            gcfg = target_cfg(box, s, f"s6-{size}")
            info = measured(
                box,
                lambda c=gcfg, d=data: run_pipeline(
                    [[TARGET, "--config", str(c)]], stdin=d, workdir=s.workdir, count_output=False
                ),
            )
        target_rss.append(info)
    res.details.update(sizes=[small, large], tap=tap_rss, target=target_rss)
    for name, runs in (("tap", tap_rss), ("target", target_rss)):
        a, b = runs[0]["peak_rss_mb"][0], runs[1]["peak_rss_mb"][0]
        growth = (b - a) / a * 100 if a and all(r["ok"] for r in runs) else None
        res.rows.append(
            Row(
                f"6 {name} RSS",
                "growth %",
                growth,
                None,
                "< 10%",
                None if growth is None else growth < 10,
                f"{a:.0f} MiB at {small:,} -> {b:.0f} MiB at {large:,}; "
                f"{large / runs[1]['wall_s']:.0f} rec/s at {large:,}",
            )
        )
    return res
