"""The benchmark scenarios (issue 5). Each returns rows for the table and details for the JSON."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks import state_figures
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
from benchmarks.incremental import EVENTS_PER_PROFILE as INCREMENTAL_EVENTS
from benchmarks.incremental import RunAfterRun
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


def _changes_row(name: str, rar: RunAfterRun, ours: dict, base: dict) -> Row:
    c = rar.changes
    return Row(
        name,
        "records = changes",
        ours["records_out"],
        None,
        "exactly",
        ours["exact"] and base["exact"],
        f"{len(c.profiles)} profiles changed + {len(c.events)} late events added; "
        f"ours {ours['emitted']}, baseline {base['records_out']} records (exact: {base['exact']})",
    )


def run_after_run(s: Settings) -> Result:
    """(7) run after run, 1% changed: the tap's CPU a lookup and wall against the baseline."""
    res, n = Result(), s.incremental_lookups
    with sandbox(profiles=n, events_per_profile=INCREMENTAL_EVENTS) as box:
        rar = RunAfterRun(box, s, n, s.incremental_concurrency, "s7")
        first = rar.first_run()
        base = rar.baseline()
        ours = rar.ours()
    res.details.update(rar.details, lookups=n, concurrency=s.incremental_concurrency)
    name = "7 run after run"
    ok = ours["ok"] and base["ok"]
    ours_us, base_us = (ours["cpu_s"] / n * 1e6, base["cpu_s"] / n * 1e6) if ok else (None, None)
    res.rows.append(
        Row(
            name,
            "CPU us / lookup",
            ours_us,
            base_us,
            "ratio <= 1.0",
            None if not ok else ours_us <= base_us,
            f"{n:,} lookups, max_concurrency {s.incremental_concurrency}; CPU seconds "
            f"tap {ours['cpu_s']:.1f} / baseline {base['cpu_s']:.1f}",
        )
    )
    res.rows.append(
        Row(
            name,
            "wall s",
            ours["wall_s"] if ok else None,
            base["wall_s"] if ok else None,
            "",
            None,
            f"{ours['requests']:,} requests ({ours['requests'] / n:.2f} a lookup), "
            f"baseline {base['requests']:,}; peak RSS tap {ours['peak_rss_mb'][0]:.0f} MiB",
        )
    )
    res.rows.append(_changes_row(name, rar, ours, base))
    final = ours["final_state"] or {}
    res.rows.append(
        Row(
            "7 state",
            "final bytes / lookup",
            final.get("value", 0) / n,
            base["state_bytes"] / n,
            "",
            None,
            f"events {final.get('events', 0) / n:.1f} + profiles {final.get('profiles', 0) / n:.1f}"
            f" B a lookup; largest STATE line {ours['largest_state_line']:,} B; "
            "baseline: a plain JSON dict",
        )
    )
    res.rows.append(
        Row(
            "7 first run",
            "CPU us / lookup",
            first["cpu_s"] / n * 1e6,
            None,
            "",
            None,
            f"reads everything, {first['records_out']:,} records: wall {first['wall_s']:.0f}s, "
            f"{first['requests']:,} requests; final state {first['final_state']['value']:,} B",
        )
    )
    return res


def run_after_run_latency(s: Settings) -> Result:
    """(8) run after run with per-request latency at max_concurrency 64: wall against ideal."""
    res, n = Result(), s.incremental_latency_lookups
    with sandbox(profiles=n, events_per_profile=INCREMENTAL_EVENTS) as box:
        rar = RunAfterRun(box, s, n, s.latency_concurrency, "s8")
        rar.first_run()  # without latency: it only builds the state
        box.set_faults(latency_ms=s.latency_ms)
        base = rar.baseline()
        ours = rar.ours()
    res.details.update(rar.details, lookups=n, concurrency=s.latency_concurrency)
    name = "8 after run +latency"
    res.rows += latency_rows(name, s, ours, base, s.latency_concurrency)
    res.rows.append(_changes_row(name, rar, ours, base))
    if ours["ok"] and base["ok"]:
        res.rows.append(
            Row(
                name,
                "CPU us / lookup",
                ours["cpu_s"] / n * 1e6,
                base["cpu_s"] / n * 1e6,
                "",
                None,
                f"{n:,} lookups, max_concurrency {s.latency_concurrency}",
            )
        )
        res.rows.append(
            Row(
                name,
                "tap CPU s / ideal",
                ours["cpu_s"] / ours["ideal_s"],
                base["cpu_s"] / base["ideal_s"],
                "",
                None,
                f"> 1: the run is CPU-bound, whatever the concurrency (one GIL); sandbox "
                f"CPU {ours['sandbox_cpu_s']:.1f}s beside the tap's {ours['cpu_s']:.1f}s",
            )
        )
    return res


def state_size(s: Settings) -> Result:
    """(9) state in process at 100k and 1M lookups: bytes, mid-run STATE, load/write, memory."""
    res = Result()
    for n in s.state_sizes:
        fig = state_figures.figures(n)
        res.details[str(n)] = fig
        first, second, memory = fig["first"], fig["second"], fig["memory"]
        final = second["final"]
        name = f"9 state {n:,}"
        per = final["total"] / n
        res.rows.append(
            Row(
                name,
                "final bytes / lookup",
                per,
                None,
                "<= 16 at 1M",
                per <= 16 if n >= 1_000_000 else None,
                f"events {final['events'] / n:.1f} + profiles {final['profiles'] / n:.1f} B a "
                f"lookup; {final['total']:,} B",
            )
        )
        largest = max(second["states"], key=lambda st: st["bytes"], default=None)
        if largest is not None:
            previous = first["final"]["total"]
            res.rows.append(
                Row(
                    name,
                    "largest mid-run STATE",
                    largest["bytes"],
                    previous,
                    "~ previous state + changes",
                    None,
                    f"{largest['stream']} at {largest['lookups_done']:,} lookups read, "
                    f"{largest['records']:,} records emitted: {largest['bytes'] - previous:+,} B "
                    f"on the previous final state (the baseline column)",
                )
            )
        res.rows.append(
            Row(
                name,
                "load CPU s",
                second["load_s"],
                None,
                "",
                None,
                "state JSON text -> both streams' bookmarks; state work during the run "
                f"{second['loop_us']['profiles']:.1f} + {second['loop_us']['events']:.1f} us a "
                "lookup (profiles + events)",
            )
        )
        res.rows.append(
            Row(name, "write CPU s", second["write_s"], None, "", None, "finish() + final JSON")
        )
        res.rows.append(
            Row(
                name,
                "MiB loading",
                memory["peak_mib"],
                None,
                "",
                None,
                f"tracemalloc peak while loading; {memory['held_mib']:.1f} MiB held once loaded",
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
    7: run_after_run,
    8: run_after_run_latency,
    9: state_size,
    10: ledger_cost,
}

# (20) lives in its own module: it needs the meltano and dagster extras and PostgreSQL.
from benchmarks.shards import shard_scaling  # noqa: E402

SCENARIOS[20] = shard_scaling
