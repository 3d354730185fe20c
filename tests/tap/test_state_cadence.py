"""When the tap emits STATE mid-stream: after `state_interval_records` records, or after every
batch once `state_interval_seconds` is 0; never while nothing new was emitted."""

from __future__ import annotations

from typing import Any

import pytest
from tap_helpers import Output, profile_ids, run_tap, tap_config

from cdp_sandbox.config import SandboxConfig
from cdp_sandbox.config import Workspace as WorkspaceConfig

PROFILES, EVENTS = 5, 15


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        workspace=WorkspaceConfig(profiles=PROFILES, events_per_profile=EVENTS, seed=7)
    )


def records_between_states(output: Output, stream: str) -> list[int]:
    """How many records of `stream` each STATE covered (none may follow the last STATE)."""
    counts = [0]
    started = False
    for message in output.messages:
        if message["type"] == "RECORD" and message["stream"] == stream:
            started = True
            counts[-1] += 1
        elif message["type"] == "STATE" and started and counts[-1]:
            counts.append(0)
    assert counts[-1] == 0, "records after the last STATE"
    return counts[:-1]


def expected_counts(batches: list[int], every: int) -> list[int]:
    """A STATE after the first batch that brings the records not yet covered to `every`; the
    stream's final STATE covers the rest."""
    counts, pending = [], 0
    for batch in batches:
        pending += batch
        if pending >= every:
            counts.append(pending)
            pending = 0
    return [*counts, pending] if pending else counts


def config(sandbox: Any, **settings: Any) -> dict[str, Any]:
    return tap_config(sandbox, max_concurrency=1, **settings)


@pytest.mark.parametrize("every", [1, 2, 3])
def test_profiles_state_follows_every_nth_profile(sandbox, every):
    out = run_tap(config(sandbox, state_interval_records=every), streams=("profiles",))
    assert records_between_states(out, "profiles") == expected_counts([1] * PROFILES, every)


@pytest.mark.parametrize(("page", "every"), [(2, 4), (4, 4), (3, 5)])
def test_events_state_follows_the_batch_reaching_n_records(sandbox, page, every):
    out = run_tap(config(sandbox, page_size=page, state_interval_records=every),
                  streams=("events",))  # fmt: skip
    per_lookup = [page] * (EVENTS // page) + ([EVENTS % page] if EVENTS % page else [])
    counts = records_between_states(out, "events")
    assert counts == expected_counts(per_lookup * PROFILES, every)


def test_state_interval_seconds_0_writes_state_after_every_batch_with_records(sandbox):
    settings = {"page_size": 4, "state_interval_records": 10_000, "state_interval_seconds": 0}
    first = run_tap(config(sandbox, **settings))
    assert records_between_states(first, "events") == [4, 4, 4, 3] * PROFILES
    assert records_between_states(first, "profiles") == [1] * PROFILES
    again = run_tap(config(sandbox, **settings), state=first.final_state)
    assert not again.records("events") and not again.records("profiles")
    assert len(again.states) <= 2  # the initial and final STATE: none mid-stream


def test_a_slow_stream_writes_state_after_state_interval_seconds(sandbox):
    """Records trickle in (each page answers 300 ms late, 12 pages): a STATE comes by the
    clock, long before `state_interval_records`. Nothing measures how long anything took:
    a slower machine only makes more of them."""
    sandbox.set_faults(latency_ms=300)
    settings = {"page_size": 4, "state_interval_records": 10_000, "state_interval_seconds": 1.2}
    out = run_tap(config(sandbox, profile_ids=profile_ids(sandbox, 3), **settings),
                  streams=("events",))  # fmt: skip
    counts = records_between_states(out, "events")
    assert len(counts) >= 2 and sum(counts) == 3 * EVENTS
