"""The Dagster shard job end to end: a Meltano project, its environment, and job runs."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cdp_demo.pipeline import BIN

ROOT = Path(__file__).resolve().parents[2]
MELTANO = BIN / "meltano"


def make_project(tmp_path: Path, shards: int) -> Path:
    """The repository's meltano.yml in a temporary project, plugins on this venv's executables,
    with one inherited extractor per shard (`tap-primedata--shard<i>`)."""
    spec = yaml.safe_load((ROOT / "meltano.yml").read_text())
    extractors = spec["plugins"]["extractors"]
    for kind in ("extractors", "loaders"):
        for plugin in spec["plugins"][kind]:
            if "inherit_from" not in plugin:
                plugin.pop("pip_url", None)
                plugin["executable"] = str(BIN / plugin["executable"])
    names = {p["name"] for p in extractors}
    for i in range(shards):
        if f"tap-primedata--shard{i}" not in names:
            extractors.append({"name": f"tap-primedata--shard{i}", "inherit_from": "tap-primedata"})
    project = tmp_path / "project"
    (project / "output").mkdir(parents=True)
    (project / "meltano.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return project


def write_lookups(path: Path, ws: Any, n: int) -> None:
    """Profiles 0..n-1 as a profiles_file: even ones by id, odd ones by email."""
    lines = [
        {"profile_id": ws.profile_id(i)}
        if i % 2 == 0
        else {"identity": "email", "value": ws.identities(i)["email"][0]}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def pipeline_env(sandbox: Any, project: Path, lookups: Path, meltano_db: str, ledger: str) -> dict:
    """What a Dagster worker's environment holds: Meltano's database and the ledger on
    PostgreSQL, the sandbox's URL and credentials, and the job's `CDP_SHARDS_*` settings."""
    creds = sandbox.credentials
    return {
        "MELTANO_DATABASE_URI": meltano_db.replace("postgresql://", "postgresql+psycopg://", 1),
        "MELTANO_DATABASE_MAX_RETRIES": "0",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DISABLE_TRACKING": "true",
        "CDP_SHARDS_PROJECT_DIR": str(project),
        "CDP_SHARDS_ENVIRONMENT": "sandbox",
        "CDP_SHARDS_MELTANO": str(MELTANO),
        "CDP_SANDBOX_URL": sandbox.url,
        "CDP_SANDBOX_PROFILES_FILE": str(lookups),
        "TAP_PRIMEDATA_API_KEY": creds.primedata_api_key,
        "TARGET_CDP_LEDGER_URI": ledger,
        "TARGET_CDP_DMARTECH_SECRET": creds.dmartech_secret,
        "TARGET_CDP_ENGAGELAB_API_KEY": creds.engagelab_api_key,
        "TARGET_CDP_ENGAGELAB_API_SECRET": creds.engagelab_api_secret,
        "TARGET_CDP_NXCLOUD_ACCESS_KEY": creds.nxcloud_access_key,
        "TARGET_CDP_NXCLOUD_ACCESS_SECRET": creds.nxcloud_access_secret,
    }


@dataclass
class JobRun:
    """One run of the job: whether it succeeded, each failed step's one line, its seconds."""

    label: str
    success: bool
    failures: dict[str, str]
    seconds: float
    steps: dict[str, float]  # seconds each step took, by step key
    run_id: str


def run_job(
    instance: Any, label: str = "run", *, reexecute: str | None = None, **plan_config: Any
) -> JobRun:
    """`meltano_shards` from the environment, on the multiprocess executor; `reexecute`: a
    failed run's id, to re-execute its failed steps (Dagster's "Re-execute from failure")."""
    import dagster as dg

    from cdp_orchestration.dagster_job import job_from_env

    config = {"ops": {"plan_shards": {"config": plan_config}}} if plan_config else None
    again = dg.ReexecutionOptions.from_failure(reexecute, instance) if reexecute else None
    t0 = time.monotonic()
    with dg.execute_job(
        dg.reconstructable(job_from_env),
        instance=instance,
        run_config=config,
        reexecution_options=again,
    ) as result:
        failures = {}
        for event in result.all_events:
            if event.is_step_failure:
                data = event.step_failure_data
                user = data.user_failure_data
                failures[event.step_key] = user.description if user else data.error.message
        steps = {
            stat.step_key: round(stat.end_time - stat.start_time, 2)
            for stat in instance.get_run_step_stats(result.run_id)
            if stat.start_time and stat.end_time
        }
        return JobRun(label, result.success, failures, time.monotonic() - t0, steps, result.run_id)


def _argv(pid: str) -> list[bytes]:
    try:
        return (Path("/proc") / pid / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _pids() -> list[str]:
    return [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]


def shard_group(plugin: str) -> int | None:
    """The process group of the `meltano ... run <plugin> ...` running now, if any."""
    for pid in _pids():
        argv = _argv(pid)
        if any(a.endswith(b"meltano") for a in argv[:2]) and plugin.encode() in argv:
            try:
                return os.getpgid(int(pid))
            except ProcessLookupError:
                continue
    return None


def tap_running_in(group: int) -> bool:
    """Whether a tap-primedata process runs in process group `group`."""
    for pid in _pids():
        argv = _argv(pid)
        if any(a.endswith(b"tap-primedata") for a in argv[:2]):
            try:
                if os.getpgid(int(pid)) == group:
                    return True
            except ProcessLookupError:
                continue
    return False


def kill_shard_when_reading(plugin: str, after: float, timeout: float = 600) -> float:
    """Once `plugin`'s tap has read for `after` seconds, SIGKILL the shard's process group
    (meltano, tap and target: a worker lost mid-run). Returns when (`time.monotonic()`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        group = shard_group(plugin)
        if group is not None and tap_running_in(group):
            time.sleep(after)
            os.killpg(group, signal.SIGKILL)
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"{plugin}'s tap never started")
