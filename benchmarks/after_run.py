"""Scenarios 7 and 8: the tap run after run (see `benchmarks.incremental`), without and with
per-request latency."""

from __future__ import annotations

from benchmarks.harness import Result, Row, Settings, latency_rows
from benchmarks.incremental import EVENTS_PER_PROFILE as INCREMENTAL_EVENTS
from benchmarks.incremental import RunAfterRun
from benchmarks.measure import sandbox


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
