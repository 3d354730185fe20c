"""tap-primedata → target-cdp as a Dagster job of parallel shards (`cdp-connectors[dagster]`).

    export CDP_SHARDS_PROJECT_DIR=/srv/my-meltano-project CDP_SHARDS_COUNT=4 \
           CDP_SHARDS_SCHEDULE='0 * * * *' CDP_SHARDS_ENVIRONMENT=prod
    dagster dev -m cdp_orchestration.dagster_job        # or a code location in workspace.yaml

The job `meltano_shards`: `plan_shards` checks the project and Meltano's system database (see
`cdp_orchestration.shards`) and fans out one `run_shard` step per shard, which Dagster's
multiprocess executor runs in parallel (each step its own process running `meltano run` of its
shard); `shards_done` reports them. A failed shard fails only its step with one line naming what
to fix; "Re-execute from failure" (or run config `only_shards`) reruns it alone, and it resumes
from its own state (re-executing a shard whose processes were killed passes `--force`, since
Meltano still records that run as running).

Plain Dagster ops calling `meltano run`, not the `dagster-meltano` package: its last release
(1.5.5) needs `dagster-shell`, whose last release pins dagster 1.9 and Python < 3.13, and its
`meltano_run_op` always passes `--force`, which lets two runs of one shard overlap.

Settings (environment variables, read when the code location loads; or call `build_job` /
`build_definitions` from your own definitions module):

| variable | default | meaning |
|---|---|---|
| `CDP_SHARDS_PROJECT_DIR` | `MELTANO_PROJECT_ROOT`, else the working dir | the Meltano project |
| `CDP_SHARDS_COUNT` | 4 | shards: one extractor `<extractor>--shard<i>` each in meltano.yml |
| `CDP_SHARDS_SCHEDULE` | `0 * * * *` | cron schedule in UTC (`none`: no schedule) |
| `CDP_SHARDS_ENVIRONMENT` | `MELTANO_ENVIRONMENT`, else `prod` | Meltano environment |
| `CDP_SHARDS_EXTRACTOR`, `CDP_SHARDS_LOADER` | `tap-primedata`, `target-cdp` | the pipeline |
| `CDP_SHARDS_MELTANO` | `meltano` | the Meltano executable |

Run config of `plan_shards`: `only_shards` (rerun these alone), `force` (a shard's previous run
was killed: Meltano still records it as running), `reshard` (accept a new shard count once).
"""

# No `from __future__ import annotations`: Dagster reads the op annotations at runtime.
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from cdp_orchestration.shards import ShardError, ShardPlan

JOB_NAME = "meltano_shards"


class MeltanoShards(dg.ConfigurableResource):  # type: ignore[type-arg]  # bare, as Dagster documents
    """The Meltano project and how its pipeline is split."""

    project_dir: str
    shard_count: int = 4
    environment: str = "prod"
    extractor: str = "tap-primedata"
    loader: str = "target-cdp"
    meltano: str = "meltano"

    def plan(self) -> ShardPlan:
        return ShardPlan(
            project_dir=Path(self.project_dir),
            shard_count=self.shard_count,
            environment=self.environment,
            extractor=self.extractor,
            loader=self.loader,
            meltano=self.meltano,
        )


class PlanConfig(dg.Config):
    """What this run does: every shard (default) or some again."""

    only_shards: list[int] = []
    force: bool = False
    reshard: bool = False


@dg.op(out=dg.DynamicOut(dict), tags={"kind": "meltano"})
def plan_shards(
    context: dg.OpExecutionContext, config: PlanConfig, shards: MeltanoShards
) -> Iterator[dg.DynamicOutput[dict[str, Any]]]:
    """Check the project and Meltano's database, then one output per shard to run:
    `{"index": i, "force": bool}`."""
    try:
        plan = shards.plan()
        existing = plan.check(reshard=config.reshard)
    except ShardError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    wanted = config.only_shards or list(range(plan.shard_count))
    unknown = [i for i in wanted if not 0 <= i < plan.shard_count]
    if unknown:
        raise dg.Failure(
            description=f"only_shards: no shard {unknown[0]} (0..{plan.shard_count - 1})",
            allow_retries=False,
        )
    context.log.info(
        f"{len(wanted)} of {plan.shard_count} shards to run in {plan.project_dir} "
        f"(environment {plan.environment}; {len(existing)} have state)"
    )
    for index in sorted(set(wanted)):
        yield dg.DynamicOutput({"index": index, "force": config.force}, mapping_key=f"shard{index}")


@dg.op(tags={"kind": "meltano"})
def run_shard(
    context: dg.OpExecutionContext, task: dict[str, Any], shards: MeltanoShards
) -> dict[str, Any]:
    """`meltano run` of one shard; its output goes to this step's compute log (stderr)."""
    plan, shard = shards.plan(), task["index"]
    force = task["force"] or _reexecuting_a_killed_shard(context)
    context.log.info(f"shard {shard}: {' '.join(plan.command(shard, force=force))}")
    try:
        done = plan.run(
            shard,
            force=force,
            echo=lambda line: print(line, file=sys.stderr, flush=True),
            started=lambda pid: context.log.info(f"shard {shard}: process group {pid}"),
        )
    except ShardError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={"stopped_by_signal": exc.stopped_by_signal},
            allow_retries=False,
        ) from None
    context.log.info(f"shard {shard} finished in {done.seconds:.1f} s ({done.state_id})")
    return {"shard": done.index, "state_id": done.state_id, "seconds": round(done.seconds, 2)}


def _reexecuting_a_killed_shard(context: dg.OpExecutionContext) -> bool:
    """Whether this step re-executes one whose shard processes were killed in the parent run:
    then nothing of that run is left (its process group was killed to the last process), and
    `--force` only tells Meltano so."""
    parent = context.run.parent_run_id
    if not parent:
        return False
    step_key = context.get_step_execution_context().step.key
    failures = context.instance.get_records_for_run(
        parent, of_type=dg.DagsterEventType.STEP_FAILURE
    ).records
    for record in failures:
        event = record.event_log_entry.dagster_event
        if event is None or event.step_key != step_key:
            continue
        user = event.step_failure_data.user_failure_data
        stopped = user.metadata.get("stopped_by_signal") if user else None
        if stopped is not None and stopped.value is True:
            context.log.info("re-executing a killed shard: meltano run --force")
            return True
    return False


@dg.op(tags={"kind": "meltano"})
def shards_done(context: dg.OpExecutionContext, results: list[dict[str, Any]]) -> int:
    """Report the shards of this run."""
    times = ", ".join(f"shard {r['shard']} {r['seconds']} s" for r in sorted(results, key=str))
    context.log.info(f"{len(results)} shards finished: {times}")
    return len(results)


def build_job(shards: MeltanoShards, *, name: str = JOB_NAME) -> dg.JobDefinition:
    """The job for `shards`: every shard step may run at once (they wait on the network)."""

    @dg.job(
        name=name,
        resource_defs={"shards": shards},
        executor_def=dg.multiprocess_executor.configured(
            {"max_concurrent": shards.shard_count + 1}
        ),
        tags={"pipeline": f"{shards.extractor}-to-{shards.loader}"},
    )
    def meltano_shards() -> None:
        shards_done(plan_shards().map(run_shard).collect())

    return meltano_shards


def build_definitions(shards: MeltanoShards, schedule: str | None = "0 * * * *") -> dg.Definitions:
    """The job and, unless `schedule` is None, its cron schedule (UTC)."""
    job = build_job(shards)
    schedules = (
        [dg.ScheduleDefinition(job=job, cron_schedule=schedule, execution_timezone="UTC")]
        if schedule
        else []
    )
    return dg.Definitions(jobs=[job], schedules=schedules)


def shards_from_env(environ: Mapping[str, str] = os.environ) -> MeltanoShards:
    """`MeltanoShards` from the `CDP_SHARDS_*` variables (see the module docstring)."""
    count = environ.get("CDP_SHARDS_COUNT", "4")
    if not count.isdigit() or int(count) < 1:
        raise ShardError(f"CDP_SHARDS_COUNT must be a whole number of at least 1 (got {count!r})")
    return MeltanoShards(
        project_dir=environ.get("CDP_SHARDS_PROJECT_DIR")
        or environ.get("MELTANO_PROJECT_ROOT")
        or os.getcwd(),
        shard_count=int(count),
        environment=environ.get("CDP_SHARDS_ENVIRONMENT")
        or environ.get("MELTANO_ENVIRONMENT")
        or "prod",
        extractor=environ.get("CDP_SHARDS_EXTRACTOR", "tap-primedata"),
        loader=environ.get("CDP_SHARDS_LOADER", "target-cdp"),
        meltano=environ.get("CDP_SHARDS_MELTANO", "meltano"),
    )


def job_from_env() -> dg.JobDefinition:
    """The job from the environment: `dagster.reconstructable(job_from_env)` for `execute_job`."""
    return build_job(shards_from_env())


def _schedule_from_env() -> str | None:
    schedule = os.environ.get("CDP_SHARDS_SCHEDULE", "0 * * * *").strip()
    return None if schedule.lower() in ("", "none") else schedule


defs = build_definitions(shards_from_env(), _schedule_from_env())
