"""Shared pieces of the scenarios: settings, table rows, measured runs, config helpers."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmarks import configs
from benchmarks.datagen import write_events_file
from benchmarks.measure import VENV_BIN, Run, SandboxProcess, python_cmd, run_pipeline

SDK_TAP_RPS, SDK_TARGET_RPS = 19_000, 9_000  # singer-sdk 0.54.9 defaults on this machine
EVENTS_PER_PROFILE = 100


@dataclass
class Settings:
    """Sizes and knobs of one benchmark run."""

    workdir: Path
    records: int = 200_000  # scenarios 1, 3, 5
    latency_profiles: int = 2_000  # scenario 2
    latency_records: int = 200_000  # scenario 4
    rss_sizes: tuple[int, int] = (100_000, 1_000_000)  # scenario 6
    incremental_lookups: int = 100_000  # scenario 7, at `incremental_concurrency`
    incremental_concurrency: int = 8
    incremental_latency_lookups: int = 10_000  # scenario 8, at `latency_concurrency`
    latency_concurrency: int = 64
    state_sizes: tuple[int, ...] = (100_000, 1_000_000)  # scenario 9, in process
    concurrency: int = 4
    batch_size: int = 100
    latency_ms: float = 50.0
    repeat: int = 1
    demo_profiles: int = 10_000  # scenario 12
    instruction_records: int = 20_000  # scenario 13 (under callgrind, about 50 times slower)
    demo_latency_ms: float = 20.0


Sample = tuple[float | None, float | None]  # one repeat: (ours, baseline)


@dataclass
class Row:
    """One line of the table. With `samples` (one `(ours, baseline)` pair a repeat), `ours`
    and `baseline` are the medians of their repeats and `ratio` the median of the repeats'
    own ratios, with `ratio_range` its min-max: never the best run."""

    scenario: str
    metric: str
    ours: float | None
    baseline: float | None = None
    goal: str = ""
    ok: bool | None = None
    note: str = ""
    samples: list[Sample] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        """Each repeat's ours / baseline (both from the same repeat, run side by side)."""
        if self.samples:
            return [o / b for o, b in self.samples if o is not None and b]
        if self.ours is None or not self.baseline:
            return []
        return [self.ours / self.baseline]

    @property
    def ratio(self) -> float | None:
        ratios = self.ratios
        return statistics.median(ratios) if ratios else None

    @property
    def ratio_range(self) -> tuple[float, float] | None:
        ratios = self.ratios
        return (min(ratios), max(ratios)) if len(ratios) > 1 else None

    @property
    def ours_range(self) -> tuple[float, float] | None:
        """min-max of `ours` over the repeats (rows whose figure is itself a ratio)."""
        values = [o for o, _ in self.samples if o is not None]
        return (min(values), max(values)) if len(values) > 1 else None


def sampled(
    scenario: str,
    metric: str,
    samples: list[Sample],
    goal: str = "",
    need: float | None = None,
    note: str = "",
) -> Row:
    """A row from its repeats: medians of each side, `ok` from the median ratio >= `need`."""
    ours = _median([o for o, _ in samples])
    base = _median([b for _, b in samples])
    row = Row(scenario, metric, ours, base, goal, None, note, samples)
    if need is not None and row.ratio is not None and len(row.ratios) == len(samples):
        row.ok = row.ratio >= need
    return row


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present and len(present) == len(values) else None


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


TAP = str(VENV_BIN / "tap-primedata")
TARGET = str(VENV_BIN / "target-cdp")


def tap_cmd(cfg: Path, catalog: Path | None) -> list[str]:
    return [TAP, "--config", str(cfg), *(["--catalog", str(catalog)] if catalog else [])]


def measured(box: SandboxProcess, fn: Callable[[], Run], repeat: int = 1) -> dict[str, Any]:
    """`repeat` runs: the median one (by wall time; the lower of two middles), with every
    run's figures in `runs` and the wall times' min-max in `wall_s_range`."""
    return summary([one_run(box, fn) for _ in range(max(1, repeat))])


def measured_pair(
    box: SandboxProcess, base: Callable[[], Run], ours: Callable[[], Run], repeat: int = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The baseline and ours taken in turns, `repeat` times: each repeat's ratio compares
    two runs made one after the other, under the same machine load."""
    base_runs, ours_runs = [], []
    for _ in range(max(1, repeat)):
        base_runs.append(one_run(box, base))
        ours_runs.append(one_run(box, ours))
    return summary(base_runs), summary(ours_runs)


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run of `runs` (by wall time), with all of them under `runs`."""
    order = sorted(runs, key=lambda r: r["wall_s"])
    mid = dict(order[(len(order) - 1) // 2])
    mid["runs"] = runs
    mid["wall_s_range"] = [order[0]["wall_s"], order[-1]["wall_s"]]
    return mid


def runs_of(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Each repeat's figures (a single run when `info` is one)."""
    return list(info.get("runs") or [info])


def pairs(
    ours: dict[str, Any], base: dict[str, Any] | None, value: Callable[[dict[str, Any]], Any]
) -> list[Sample]:
    """`(value(ours run), value(baseline run))` for each repeat, in the order they ran."""
    if base is None:
        return [(value(o), None) for o in runs_of(ours)]
    return list(zip([value(o) for o in runs_of(ours)], [value(b) for b in runs_of(base)],
                    strict=False))  # fmt: skip


def one_run(box: SandboxProcess, fn: Callable[[], Run]) -> dict[str, Any]:
    """One run, with the vendor calls the sandbox served for it."""
    box.reset()
    before, box_cpu = box.requests_served(), box.cpu_s()
    run = fn()
    info = {
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.cpu_s, 3),
        "sandbox_cpu_s": round(box.cpu_s() - box_cpu, 3),
        "ok": run.ok,
        "returncodes": run.returncodes,
        "peak_rss_mb": [round(r, 1) for r in run.peak_rss_mb],
        "records_out": run.records_out,
        "states_out": run.states_out,
        "lines_out": run.lines_out,
        "requests": box.requests_served() - before,
        "delivered": delivered(box),
    }
    if not run.ok:
        info["stderr_tail"] = run.stderr_tail
    return info


def delivered(box: SandboxProcess) -> int:
    """Events and users Dmartech received."""
    body = requests.get(f"{box.url}/_sandbox/received?summary=1", timeout=60).json()
    counts = body.get("received", {}).get("dmartech", {}).get("counts", {})
    return int(counts.get("events", 0)) + int(counts.get("users", 0))


def rate(records: int, info: dict[str, Any]) -> float | None:
    return records / info["wall_s"] if info["ok"] and info["wall_s"] else None


def tap_setup(
    box: SandboxProcess, s: Settings, profiles: int, tag: str
) -> tuple[Path, Path | None]:
    wd = s.workdir
    cfg = configs.write_json(
        wd / f"tap-{tag}.json",
        configs.tap_config(box, configs.profile_ids(box, profiles), s.concurrency),
    )
    return cfg, configs.events_catalog(TAP, cfg, wd)


def latency_rows(
    name: str,
    s: Settings,
    ours: dict[str, Any],
    base: dict[str, Any],
    concurrency: int | None = None,
) -> list[Row]:
    """wall / (requests x latency / concurrency), each repeat against its own requests; the
    rows give the median with its min-max."""
    concurrency = concurrency or s.concurrency

    def ideal(run: dict[str, Any]) -> float:
        return run["requests"] * s.latency_ms / 1000 / concurrency

    def over(run: dict[str, Any]) -> float | None:
        return run["wall_s"] / ideal(run) if ideal(run) and run["ok"] else None

    rows = []
    for who, info in (("ours", ours), ("baseline", base)):
        info["ideal_s"] = round(ideal(info), 3)
        info["wall_over_ideal"] = over(info)
        samples = pairs(info, None, over)
        row = sampled(name, "wall / ideal" if who == "ours" else "baseline wall / ideal", samples)
        if who == "ours":
            row.goal = "<= 1.3"
            row.ok = None if row.ours is None else row.ours <= 1.3
            row.note = (
                f"{info['requests']} req x {s.latency_ms:g} ms / {concurrency}"
                f" = {ideal(info):.1f}s ideal; wall {info['wall_s']:.1f}s"
            )
        else:
            row.note = f"{info['requests']} req; wall {info['wall_s']:.1f}s"
        rows.append(row)
    return rows


def target_cfg(box: SandboxProcess, s: Settings, tag: str) -> Path:
    return configs.write_json(
        s.workdir / f"target-{tag}.json",
        configs.target_config(box, s.concurrency, s.batch_size, s.workdir),
    )


def events_file(s: Settings, records: int) -> Path:
    return write_events_file(s.workdir.parent / "data" / f"events-{records}.jsonl", records)


def target_pair(
    s: Settings, box: SandboxProcess, data: Path, tag: str, repeat: int = 1
) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = target_cfg(box, s, tag)
    return measured_pair(
        box,
        lambda: run_pipeline(
            [python_cmd("benchmarks.baselines", "target", "--config", str(cfg))],
            stdin=data,
            workdir=s.workdir,
        ),
        lambda: run_pipeline([[TARGET, "--config", str(cfg)]], stdin=data, workdir=s.workdir),
        repeat,
    )


def ratio_ok(ours: float | None, base: float | None, need: float) -> bool | None:
    if ours is None or not base:
        return None
    return ours / base >= need
