"""(20) The Dagster shard job: 4 shards against 1 over the same lookups at 50 ms latency.

Both runs use the shipped job (`cdp_orchestration.dagster_job`, multiprocess executor) on a
fresh Meltano project whose system database and target-cdp ledger live on one real PostgreSQL
server (its own databases per run), against one `cdp-sandbox serve --latency-ms 50`. Profiles
go to Dmartech `user` (diffed by the ledger), events to Dmartech `event`; one event per
profile, so the run is bound by PrimeData lookups (two requests each).

Measured per run: wall time of the job; total CPU of everything it started (Dagster step
processes, meltano, taps, targets: `RUSAGE_CHILDREN`), of the sandbox and of PostgreSQL; and
ledger contention: pg_stat_activity sampled every 25 ms (sessions on the ledger database that
are active, and those waiting on a lock), with pg_stat_database's commits, rollbacks and
deadlocks. Needs the `meltano` and `dagster` extras and PostgreSQL's binaries:

    CDP_EXTRAS=bench,postgres,meltano,dagster scripts/bench --only 20
    CDP_BENCH_SHARD_LOOKUPS=2000 ...       # fewer lookups (default 20,000; --quick 4,000)
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil

from benchmarks.harness import Result, Row, Settings
from benchmarks.measure import ROOT, sandbox
from cdp_demo import configs
from cdp_sandbox.config import Credentials

TEST_HELPERS = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]  # postgres_server, shard_helpers
SHARDS = 4
SAMPLE_S = 0.025
# Profiles to Dmartech users, events to Dmartech events: the demo's Dmartech routes.
MAPPINGS = [route for route in configs.MAPPINGS if route["destination"] == "dmartech"]


def shard_scaling(s: Settings) -> Result:
    """(20) Dagster shard job: 4 shards vs 1, 50 ms latency, PostgreSQL ledger and state."""
    res = Result()
    sys.path[:0] = TEST_HELPERS  # the tests' PostgreSQL server and Meltano project
    try:
        import dagster  # noqa: F401
        import postgres_server
        from shard_helpers import MELTANO
    except ImportError as exc:
        res.rows.append(Row("20 shards", "not run", None, note=f"{exc}: see module docstring"))
        return res
    finally:
        del sys.path[: len(TEST_HELPERS)]
    if not MELTANO.exists():
        res.rows.append(Row("20 shards", "not run", None, note="meltano extra missing"))
        return res
    default = 20_000 if s.records >= 200_000 else 4_000
    lookups = int(os.environ.get("CDP_BENCH_SHARD_LOOKUPS", default))
    server = postgres_server.start()
    try:
        with sandbox(profiles=lookups, events_per_profile=1, latency_ms=s.latency_ms) as box:
            runs = {n: _run(box, server, s, lookups, n) for n in (1, SHARDS)}
    finally:
        server.stop()
    one, many = runs[1], runs[SHARDS]
    res.details.update(lookups=lookups, latency_ms=s.latency_ms, runs=runs)
    note = f"{lookups} lookups, {s.latency_ms:.0f} ms"
    res.rows += [
        Row("20 shards", f"wall s, {SHARDS} vs 1", many["wall_s"], one["wall_s"], "", None, note),
        Row(
            "20 shards",
            f"slowest shard s, {SHARDS} vs 1",
            many["slowest_shard_s"],
            one["slowest_shard_s"],
            "",
            None,
            "meltano run of a shard; wall minus this is Dagster's own time",
        ),
        Row(
            "20 shards",
            f"lookups/s, {SHARDS} vs 1",
            lookups / many["wall_s"],
            lookups / one["wall_s"],
            "",
            None,
            "speed-up = ratio",
        ),
        Row(
            "20 shards",
            f"CPU s (job), {SHARDS} vs 1",
            many["cpu_s"]["job"],
            one["cpu_s"]["job"],
            "",
            None,
            f"sandbox {many['cpu_s']['sandbox']:.0f} / {one['cpu_s']['sandbox']:.0f}, "
            f"PostgreSQL {many['cpu_s']['postgres']:.1f} / {one['cpu_s']['postgres']:.1f}",
        ),
        Row(
            "20 shards",
            f"ledger lock waits %, {SHARDS} vs 1",
            many["ledger"]["lock_wait_pct"],
            one["ledger"]["lock_wait_pct"],
            "",
            None,
            f"of active ledger sessions sampled; deadlocks {many['ledger']['deadlocks']}, "
            f"commits {many['ledger']['commits']} / {one['ledger']['commits']}",
        ),
    ]
    return res


def _run(box: Any, server: Any, s: Settings, lookups: int, shards: int) -> dict[str, Any]:
    """One job run over a fresh project, Meltano database and ledger."""
    import dagster as dg
    from shard_helpers import make_project, pipeline_env, run_job

    box.reset()
    work = s.workdir / f"s20-{shards}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    project = make_project(work, shards)
    lookup_file = work / "profiles.jsonl"
    profiles = configs.workspace_profiles(box.url, lookups)
    lines = (json.dumps({"profile_id": p["profile_id"]}) + "\n" for p in profiles)
    lookup_file.write_text("".join(lines))
    ledger_db = server.create_database()
    sandbox_view = SimpleNamespace(url=box.url, credentials=Credentials())
    meltano_db = server.url(server.create_database())
    env = pipeline_env(sandbox_view, project, lookup_file, meltano_db, server.url(ledger_db))
    env |= {"CDP_SHARDS_COUNT": str(shards), "TARGET_CDP_MAPPINGS": json.dumps(MAPPINGS)}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    sampler = _LedgerSampler(server, ledger_db)
    pg_before, box_before = _postgres_cpu(server), _cpu(psutil.Process(box.proc.pid))
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        with dg.instance_for_test(temp_dir=str(_home(work))) as instance:
            sampler.start()
            run = run_job(instance, f"{shards} shards")
            sampler.stop()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    job_cpu = children.ru_utime + children.ru_stime
    job_cpu -= children_before.ru_utime + children_before.ru_stime
    held = box.calls()
    return {
        "ok": run.success,
        "failures": run.failures,
        "wall_s": round(run.seconds, 2),
        "steps_s": run.steps,
        "slowest_shard_s": max(
            (v for k, v in run.steps.items() if k.startswith("run_shard")), default=None
        ),
        "cpu_s": {
            "job": round(job_cpu, 1),
            "sandbox": round(_cpu(psutil.Process(box.proc.pid)) - box_before, 1),
            "postgres": round(_postgres_cpu(server) - pg_before, 1),
        },
        "ledger": sampler.figures(),
        "sandbox_calls": held,
    }


def _home(work: Path) -> Path:
    home = work / "dagster"
    home.mkdir(exist_ok=True)
    return home


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def _postgres_cpu(server: Any) -> float:
    """CPU of the PostgreSQL server: the postmaster, its live backends and reaped ones."""
    pid = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    master = psutil.Process(pid)
    total = _cpu(master)
    for child in master.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += _cpu(child)
    return total


class _LedgerSampler(threading.Thread):
    """Samples the ledger database's sessions: active ones and those waiting on a lock."""

    QUERY = (
        "SELECT count(*) FILTER (WHERE state = 'active'), "
        "count(*) FILTER (WHERE wait_event_type = 'Lock') "
        "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    )
    TOTALS = "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database WHERE datname = %s"

    def __init__(self, server: Any, database: str) -> None:
        super().__init__(daemon=True)
        self.server, self.database = server, database
        self.samples = self.active = self.waiting = 0
        self.peak_active = 0
        self._stop_event = threading.Event()
        self.before: tuple[int, int, int] = (0, 0, 0)
        self.after: tuple[int, int, int] = (0, 0, 0)

    def _connect(self) -> Any:
        import psycopg
        from postgres_server import PASSWORD, USER

        return psycopg.connect(
            host="127.0.0.1", port=self.server.port, user=USER, password=PASSWORD,
            dbname="postgres", autocommit=True,
        )  # fmt: skip

    def run(self) -> None:
        with self._connect() as conn:
            self.before = conn.execute(self.TOTALS, (self.database,)).fetchone() or (0, 0, 0)
            while not self._stop_event.is_set():
                active, waiting = conn.execute(self.QUERY, (self.database,)).fetchone()
                self.samples += 1
                self.active += active
                self.waiting += waiting
                self.peak_active = max(self.peak_active, active)
                time.sleep(SAMPLE_S)
            self.after = conn.execute(self.TOTALS, (self.database,)).fetchone() or (0, 0, 0)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def figures(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "mean_active": round(self.active / max(1, self.samples), 3),
            "peak_active": self.peak_active,
            "lock_wait_pct": round(100 * self.waiting / max(1, self.active), 2),
            "commits": self.after[0] - self.before[0],
            "rollbacks": self.after[1] - self.before[1],
            "deadlocks": self.after[2] - self.before[2],
        }
