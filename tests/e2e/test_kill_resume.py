"""Crash recovery: SIGKILL the target in the middle of a larger run, rerun tap and target from
the last STATE the target emitted, and every record is at its destination. Duplicates are
allowed only where the vendor key makes them harmless (Dmartech `event_id`, EngageLab
`random_id`: the sandbox stores such a duplicate once and counts it)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from e2e_helpers import all_lookups, assert_complete, expected, tail

from cdp_demo import configs
from cdp_demo.pipeline import Pipeline
from cdp_sandbox.config import Faults, SandboxConfig, Workspace

PROFILES, EVENTS = 60, 50  # 3,000 events


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(
        workspace=Workspace(profiles=PROFILES, events_per_profile=EVENTS, seed=23),
        faults=Faults(latency_ms=15),
    )


def _delivered_events(sandbox) -> int:
    counts = sandbox.received().get("dmartech", {}).get("counts", {})
    return int(counts.get("events", 0))


def test_sigkill_then_resume_from_last_state(sandbox, tmp_path: Path):
    lookups = all_lookups(sandbox, PROFILES)
    tap_cfg = configs.tap_config(sandbox.url, sandbox.credentials, **lookups)
    target_cfg = configs.target_config(
        sandbox.url, sandbox.credentials, tmp_path, state_flush_seconds=0.2
    )
    total = PROFILES * EVENTS

    first = Pipeline(tap_cfg, target_cfg, tmp_path, name="first")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and first.target.poll() is None:
        if first.states() and _delivered_events(sandbox) >= total // 5:
            break
        time.sleep(0.05)
    assert first.target.poll() is None, "the run ended before it could be killed: make it larger"
    first.target.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
    killed_at = _delivered_events(sandbox)
    assert killed_at < total, "everything was delivered before the kill"
    state = first.states()[-1] if first.states() else None
    assert state is not None, "the target emitted no STATE before it was killed"

    sandbox.set_faults()  # the rerun needs no latency
    second = Pipeline(tap_cfg, target_cfg, tmp_path, name="second", state=state).wait(180)
    assert (second.tap_code, second.target_code) == (0, 0), tail(second.target_log)

    # Re-sent events (those after the last STATE) are stored once: the sets are exact.
    have = assert_complete(sandbox, expected(sandbox, PROFILES))
    assert have["duplicates"]["dmartech"] <= total and have["duplicates"]["engagelab"] <= total
    assert "Traceback" not in second.target_log.read_text()
