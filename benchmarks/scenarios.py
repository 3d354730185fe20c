"""The benchmark scenarios (issue 5), by number; each returns rows for the table and details
for the JSON. One module per group: `tap` (1, 2), `target` (3, 4, 11), `pipeline` (5, 12),
`memory` (6), `after_run` (7, 8), `state_figures` (9), `ledger` (10), `instructions` (13)
and `shards` (20)."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.after_run import run_after_run, run_after_run_latency
from benchmarks.harness import Result, Settings
from benchmarks.instructions import instructions
from benchmarks.ledger import ledger_cost
from benchmarks.memory import rss_growth
from benchmarks.pipeline import demo_pipeline, pipeline
from benchmarks.state_figures import state_size
from benchmarks.tap import tap_latency, tap_throughput
from benchmarks.target import target_latency, target_throughput, target_users

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
    11: target_users,
    12: demo_pipeline,
    13: instructions,
}

# (20) lives in its own module: it needs the meltano and dagster extras and PostgreSQL.
from benchmarks.shards import shard_scaling  # noqa: E402

SCENARIOS[20] = shard_scaling
