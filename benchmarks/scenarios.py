"""The benchmark scenarios (issue 5). Each returns rows for the table and details for the JSON."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.capacity import dmartech_capacity, events_capacity
from benchmarks.harness import (
    EVENTS_PER_PROFILE,
    SDK_TAP_RPS,
    SDK_TARGET_RPS,
    TARGET,
    Result,
    Row,
    Settings,
    events_file,
    latency_rows,
    measured,
    rate,
    ratio_ok,
    tap_cmd,
    tap_setup,
    target_cfg,
    target_pair,
)
from benchmarks.ledger import ledger_cost
from benchmarks.measure import python_cmd, run_pipeline, sandbox


def tap_throughput(s: Settings) -> Result:
    """(1) tap `events`, no latency: records/s against the baseline doing the same requests."""
    profiles = max(1, s.records // EVENTS_PER_PROFILE)
    res = Result()
    with sandbox(profiles=profiles, events_per_profile=EVENTS_PER_PROFILE) as box:
        cfg, catalog = tap_setup(box, s, profiles, "s1")
        res.details["sandbox_capacity"] = events_capacity(box, cfg, s.concurrency)
        base = measured(
            box,
            lambda: run_pipeline(
                [python_cmd("benchmarks.baselines", "tap", "--config", str(cfg))], workdir=s.workdir
            ),
            s.repeat,
        )
        ours = measured(
            box, lambda: run_pipeline([tap_cmd(cfg, catalog)], workdir=s.workdir), s.repeat
        )
    n = profiles * EVENTS_PER_PROFILE
    ours_rps, base_rps = rate(ours["records_out"], ours), rate(base["records_out"], base)
    res.details.update(records=n, baseline=base, ours=ours, catalog=bool(catalog))
    res.rows.append(
        Row(
            "1 tap events",
            "records/s",
            ours_rps,
            base_rps,
            "ratio >= 0.8",
            ratio_ok(ours_rps, base_rps, 0.8),
            f"{n} events, concurrency {s.concurrency}",
        )
    )
    res.rows.append(
        Row(
            "1 tap events",
            "records/s vs SDK default",
            ours_rps,
            SDK_TAP_RPS,
            ">= 2x 19k",
            ratio_ok(ours_rps, SDK_TAP_RPS, 2.0),
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
        base = measured(
            box,
            lambda: run_pipeline(
                [python_cmd("benchmarks.baselines", "tap", "--config", str(cfg))], workdir=s.workdir
            ),
        )
        ours = measured(box, lambda: run_pipeline([tap_cmd(cfg, catalog)], workdir=s.workdir))
    res.details.update(baseline=base, ours=ours)
    res.rows += latency_rows("2 tap +latency", s, ours, base)
    return res


def target_throughput(s: Settings) -> Result:
    """(3) target, Dmartech `event_batch`, validation on, from a pre-generated Singer file."""
    res = Result()
    data = events_file(s, s.records)
    with sandbox(profiles=10, events_per_profile=10) as box:
        res.details["sandbox_capacity"] = dmartech_capacity(box, data, s.batch_size, s.concurrency)
        base, ours = target_pair(s, box, data, "s3", s.repeat)
    n = s.records
    ours_rps, base_rps = rate(n, ours), rate(n, base)
    res.details.update(records=n, baseline=base, ours=ours)
    res.rows.append(
        Row(
            "3 target dmartech",
            "records/s",
            ours_rps,
            base_rps,
            "ratio >= 0.7",
            ratio_ok(ours_rps, base_rps, 0.7),
            f"{n} records, batch {s.batch_size}, delivered {ours['delivered']}",
        )
    )
    res.rows.append(
        Row(
            "3 target dmartech",
            "records/s vs SDK default",
            ours_rps,
            SDK_TARGET_RPS,
            ">= 2x 9k",
            ratio_ok(ours_rps, SDK_TARGET_RPS, 2.0),
        )
    )
    cap = res.details["sandbox_capacity"]
    res.rows.append(
        Row(
            "3 sandbox",
            "event_batch posts/s",
            cap["requests_per_s"],
            None,
            "",
            None,
            f"= {cap['records_per_s']:.0f} records/s accepted; server side "
            f"{cap['server_requests_per_cpu_s'] or 0:.0f} posts per CPU-second",
        )
    )
    return res


def target_latency(s: Settings) -> Result:
    """(4) target with per-request latency: wall against requests x latency / concurrency."""
    res = Result()
    data = events_file(s, s.latency_records)
    with sandbox(profiles=10, events_per_profile=10, latency_ms=s.latency_ms) as box:
        base, ours = target_pair(s, box, data, "s4")
    res.details.update(records=s.latency_records, baseline=base, ours=ours)
    res.rows += latency_rows("4 target +latency", s, ours, base)
    return res


def pipeline(s: Settings) -> Result:
    """(5) tap | target, against baseline tap | baseline target."""
    res = Result()
    profiles = max(1, s.records // EVENTS_PER_PROFILE)
    with sandbox(profiles=profiles, events_per_profile=EVENTS_PER_PROFILE) as box:
        tcfg, catalog = tap_setup(box, s, profiles, "s5")
        gcfg = target_cfg(box, s, "s5")
        base = measured(
            box,
            lambda: run_pipeline(
                [
                    python_cmd("benchmarks.baselines", "tap", "--config", str(tcfg)),
                    python_cmd("benchmarks.baselines", "target", "--config", str(gcfg)),
                ],
                workdir=s.workdir,
            ),
        )
        ours = measured(
            box,
            lambda: run_pipeline(
                [tap_cmd(tcfg, catalog), [TARGET, "--config", str(gcfg)]], workdir=s.workdir
            ),
        )
    n = profiles * EVENTS_PER_PROFILE
    ours_rps = n / ours["wall_s"] if ours["ok"] and ours["delivered"] >= n else None
    base_rps = n / base["wall_s"] if base["ok"] else None
    res.details.update(records=n, baseline=base, ours=ours)
    res.rows.append(
        Row(
            "5 tap | target",
            "records/s",
            ours_rps,
            base_rps,
            "",
            None,
            f"{n} events; delivered {ours['delivered']}; "
            f"RSS tap {ours['peak_rss_mb'][0]:.0f} / target "
            f"{ours['peak_rss_mb'][-1]:.0f} MiB",
        )
    )
    return res


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


SCENARIOS: dict[int, Callable[[Settings], Result]] = {
    1: tap_throughput,
    2: tap_latency,
    3: target_throughput,
    4: target_latency,
    5: pipeline,
    6: rss_growth,
    7: ledger_cost,
}

# (20) lives in its own module: it needs the meltano and dagster extras and PostgreSQL.
from benchmarks.shards import shard_scaling  # noqa: E402

SCENARIOS[20] = shard_scaling
