"""`scripts/bench`: run the scenarios against cdp-sandbox, print a table, write JSON.

scripts/bench                 # everything, full sizes (scenario 6 reads 1M records)
scripts/bench --quick         # smaller sizes (scenario 6 at 20k / 200k, 7 at 10k lookups)
scripts/bench --only 1 --only 3
scripts/bench --only 3 --repeat 3   # median of 3 (min-max beside it), as the README
scripts/bench --profile       # also per-thread cProfile reports of the tap and the target
scripts/bench --only 13       # instructions executed (valgrind): figures the load does not move
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.harness import Row, Settings
from benchmarks.measure import ROOT
from benchmarks.scenarios import SCENARIOS

RESULTS = ROOT / "benchmarks" / "results"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes (about 3 minutes)")
    p.add_argument(
        "--only",
        type=int,
        action="append",
        choices=sorted(SCENARIOS),
        help="run only this scenario (repeatable)",
    )
    p.add_argument("--records", type=int, help="records for scenarios 1, 3, 5")
    p.add_argument("--latency-profiles", type=int, help="profiles read in scenario 2")
    p.add_argument("--latency-records", type=int, help="records sent in scenario 4")
    p.add_argument("--rss-sizes", type=int, nargs=2, metavar=("SMALL", "LARGE"))
    p.add_argument("--lookups", type=int, help="lookups of scenario 7 (run after run)")
    p.add_argument("--latency-lookups", type=int, help="lookups of scenario 8")
    p.add_argument("--state-sizes", type=int, nargs="+", help="lookups of scenario 9")
    p.add_argument("--demo-profiles", type=int, help="profiles of scenario 12 (20 events each)")
    p.add_argument(
        "--instruction-records", type=int, help="records counted under callgrind (scenario 13)"
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="max_concurrency of tap, target and baselines alike in scenarios 1-6 (default 4; "
        "7 and 8 use 8 and 64, as issue 8 asks)",
    )
    p.add_argument("--batch-size", type=int, default=100, help="Dmartech batch_size")
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each measured figure (scenarios 1-5, 10-12; the baseline and ours in "
        "turns): the table gives the median with min-max, never the best; the README's "
        "figures use 3",
    )
    p.add_argument(
        "--profile", action="store_true", help="cProfile the tap and target; py-spy the target"
    )
    p.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    return p


def settings(args: argparse.Namespace) -> Settings:
    s = Settings(
        workdir=RESULTS / "work",
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        latency_ms=args.latency_ms,
        repeat=args.repeat,
    )
    if args.quick:
        s.records, s.latency_profiles, s.latency_records = 50_000, 500, 50_000
        s.rss_sizes = (20_000, 200_000)
        s.incremental_lookups, s.incremental_latency_lookups = 10_000, 2_000
        s.state_sizes = (20_000, 200_000)
        s.demo_profiles = 1_000
        s.instruction_records = 5_000
    s.records = args.records or s.records
    s.latency_profiles = args.latency_profiles or s.latency_profiles
    s.latency_records = args.latency_records or s.latency_records
    s.rss_sizes = tuple(args.rss_sizes) if args.rss_sizes else s.rss_sizes
    s.incremental_lookups = args.lookups or s.incremental_lookups
    s.incremental_latency_lookups = args.latency_lookups or s.incremental_latency_lookups
    s.state_sizes = tuple(args.state_sizes) if args.state_sizes else s.state_sizes
    s.demo_profiles = args.demo_profiles or s.demo_profiles
    s.instruction_records = args.instruction_records or s.instruction_records
    s.workdir.mkdir(parents=True, exist_ok=True)
    return s


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _spread(value: str, span: tuple[float, float] | None, digits: int) -> str:
    """`value (min-max)` when there were repeats."""
    if span is None or value == "-":
        return value
    return f"{value} ({span[0]:,.{digits}f}-{span[1]:,.{digits}f})"


def row_json(r: Row) -> dict[str, Any]:
    return {**asdict(r), "ratio": r.ratio, "ratio_range": r.ratio_range}


def table(rows: list[Row]) -> str:
    """The table: medians of the repeats, min-max in brackets."""
    head = ("scenario", "metric", "ours", "baseline", "ratio", "goal", "met", "note")
    lines = []
    for r in rows:
        small = r.ours is not None and abs(r.ours) < 100
        digits = 2 if small else 0
        ours_span = r.ours_range if r.baseline is None else None
        lines.append(
            (
                r.scenario,
                r.metric,
                _spread(_fmt(r.ours, digits), ours_span, digits),
                _fmt(r.baseline),
                _spread(_fmt(r.ratio, 2), r.ratio_range, 2),
                r.goal,
                {True: "yes", False: "NO", None: ""}[r.ok],
                r.note,
            )
        )
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head) - 1)]
    out = []
    for line in [head, *lines]:
        out.append(
            "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)) + "  " + line[-1]
        )
        if line is head:
            out.append("-" * (sum(widths) + 2 * len(widths) + 4))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    s = settings(args)
    chosen = sorted(set(args.only or SCENARIOS))
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()},
        "scenarios": {},
    }
    rows: list[Row] = []
    failed = False
    for number in chosen:
        fn = SCENARIOS[number]
        print(
            f"[bench] scenario {number}: {fn.__doc__.splitlines()[0]}", file=sys.stderr, flush=True
        )
        start = time.perf_counter()
        try:
            result = fn(s)
        except Exception as exc:  # one broken scenario must not hide the others
            failed = True
            traceback.print_exc()
            rows.append(Row(f"{number} {fn.__name__}", "error", None, note=repr(exc)[:120]))
            report["scenarios"][str(number)] = {"error": repr(exc)}
            continue
        rows += result.rows
        report["scenarios"][str(number)] = {
            "name": fn.__name__,
            "seconds": round(time.perf_counter() - start, 1),
            "rows": [row_json(r) for r in result.rows],
            "details": result.details,
        }
    if args.profile:
        from benchmarks.profiling import profile

        report["profiles"] = profile(s, RESULTS)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, default=str))
    print(table(rows))
    print(f"\nJSON: {args.output}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
