"""`--profile`: the tap (scenario 1) and the target (scenario 3) under cProfile, every thread;
and, when `py-spy` is installed (the `bench` extra), the target sampled by py-spy.

pyinstrument and plain cProfile sample only the main thread, but the tap's page fetches and
the target's deliveries run on worker threads; so each thread gets its own `cProfile.Profile`
(`Thread.start` wraps each `run`) and the stats are merged. Reports (top functions by own time, and
by cumulative time) land in `benchmarks/results/profile-{tap,target}.txt`.

    python -m benchmarks.profiling REPORT MODULE:CALLABLE [args...]   # one profiled run

cProfile's per-call overhead inflates small functions; py-spy samples the real process
(`--gil`: only the thread holding the interpreter lock, i.e. where CPU goes) with the ledger on
as scenario 3 runs it: `profile-target-pyspy.txt` lists functions by own and by inclusive share.
"""

from __future__ import annotations

import atexit
import cProfile
import importlib
import io
import pstats
import shutil
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks import configs
from benchmarks.datagen import write_events_file
from benchmarks.harness import EVENTS_PER_PROFILE, TAP, TARGET, Settings
from benchmarks.measure import VENV_BIN, python_cmd, run_pipeline, sandbox

TAP_ENTRY = "tap_primedata.tap:TapPrimeData.cli"
TARGET_ENTRY = "target_cdp.target:TargetCDP.cli"
TOP = 35


def _report(profiles: list[cProfile.Profile], path: Path) -> None:
    stats = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        stats.add(prof)
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.strip_dirs()
    buf.write(f"# {len(profiles)} threads profiled; CPU time per thread (waits excluded)\n")
    stats.sort_stats("tottime").print_stats(TOP)
    stats.sort_stats("cumulative").print_stats(TOP)
    path.write_text(buf.getvalue())


def profiled_main(report: Path, entry: str, args: list[str]) -> None:
    """Run `entry` (a console-script callable) with every thread under cProfile."""
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    original = threading.Thread.start

    def start(self: threading.Thread) -> None:
        run = self.run  # a subclass's own run() too

        def profiled_run() -> None:
            prof = cProfile.Profile(time.thread_time)
            with lock:
                profiles.append(prof)
            prof.enable()
            try:
                run()
            finally:
                prof.disable()

        self.run = profiled_run  # type: ignore[method-assign]
        original(self)

    threading.Thread.start = start  # type: ignore[method-assign]
    main_prof = cProfile.Profile(time.thread_time)
    profiles.append(main_prof)
    atexit.register(lambda: _report(profiles, report))
    module, _, attr = entry.partition(":")
    target = importlib.import_module(module)
    for part in attr.split("."):
        target = getattr(target, part)
    sys.argv = [entry, *args]
    main_prof.enable()
    try:
        target()  # click's main exits via SystemExit
    finally:
        main_prof.disable()


def profile(s: Settings, results: Path) -> dict[str, str]:
    """Profile the tap and the target at scenario 1/3 shapes (at most 100k records)."""
    records = min(s.records, 100_000)
    profiles = max(1, records // EVENTS_PER_PROFILE)
    tap_report, target_report = results / "profile-tap.txt", results / "profile-target.txt"
    with sandbox(profiles=profiles, events_per_profile=EVENTS_PER_PROFILE) as box:
        cfg = configs.tap_config(box, configs.profile_ids(box, profiles), s.concurrency)
        cfg_path = configs.write_json(s.workdir / "tap-profile.json", cfg)
        catalog = configs.events_catalog(TAP, cfg_path, s.workdir)
        extra = ["--catalog", str(catalog)] if catalog else []
        cmd = python_cmd(
            "benchmarks.profiling", str(tap_report), TAP_ENTRY, "--config", str(cfg_path), *extra
        )
        run_pipeline([cmd], workdir=s.workdir)
    data = write_events_file(s.workdir.parent / "data" / f"events-{records}.jsonl", records)
    with sandbox(profiles=10, events_per_profile=10) as box:
        gcfg = configs.target_config(box, s.concurrency, s.batch_size, s.workdir)
        gpath = configs.write_json(s.workdir / "target-profile.json", gcfg)
        cmd = python_cmd(
            "benchmarks.profiling", str(target_report), TARGET_ENTRY, "--config", str(gpath)
        )
        run_pipeline([cmd], stdin=data, workdir=s.workdir, count_output=False)
    out = {"tap": str(tap_report), "target": str(target_report)}
    spy = str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else shutil.which("py-spy")
    if spy:
        out["target_pyspy"] = str(pyspy_target(spy, s, results, data))
    return out


def pyspy_target(spy: str, s: Settings, results: Path, data: Path) -> Path:
    """The target on `data` (scenario 3's route, SQLite ledger on) under `py-spy record --gil`."""
    raw, report = results / "profile-target-pyspy.raw", results / "profile-target-pyspy.txt"
    with sandbox(profiles=10, events_per_profile=10) as box:
        for stale in s.workdir.glob("target-cdp-ledger.db*"):
            stale.unlink()
        gcfg = configs.target_config(box, s.concurrency, s.batch_size, s.workdir)
        gpath = configs.write_json(s.workdir / "target-pyspy.json", gcfg)
        cmd = [spy, "record", "--gil", "--threads", "--rate", "250", "--format", "raw",
               "--output", str(raw), "--", TARGET, "--config", str(gpath)]  # fmt: skip
        run = run_pipeline([cmd], stdin=data, workdir=s.workdir, count_output=False)
    if not raw.exists():
        report.write_text(f"py-spy failed: {run.stderr_tail}\n")
        return report
    report.write_text(spy_summary(raw.read_text().splitlines()))
    return report


def spy_summary(lines: list[str], top: int = TOP) -> str:
    """py-spy's raw (collapsed) stacks as shares of samples: per thread, per function's own
    time and per function including what it calls."""
    total, threads, own, inclusive = 0, Counter[str](), Counter[str](), Counter[str]()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        total += n
        threads[frames[0]] += n
        names = [f.split(" (")[0] + " (" + f.rsplit("/", 1)[-1] if "/" in f else f
                 for f in frames[1:]]  # fmt: skip
        if names:
            own[names[-1]] += n
        for name in set(names):
            inclusive[name] += n
    out = [f"# py-spy --gil: {total} samples (CPU of the thread holding the GIL)", "", "## threads"]
    out += [f"{100 * n / total:5.1f}%  {name}" for name, n in threads.most_common(top)]
    out += ["", "## own time"]
    out += [f"{100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    out += ["", "## inclusive"]
    out += [f"{100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    profiled_main(Path(sys.argv[1]), sys.argv[2], sys.argv[3:])
