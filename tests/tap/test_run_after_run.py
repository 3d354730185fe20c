"""Scheduled syncs: what each run reads and emits, given the state of the run before it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from tap_helpers import (
    ROOT,
    append_events,
    expected_events,
    profile_ids,
    run_cli,
    run_tap,
    tap_config,
    workspace,
)

from cdp_sandbox.config import SandboxConfig
from cdp_sandbox.config import Workspace as WorkspaceConfig
from cdp_sandbox.timeformat import to_rfc3339
from tap_primedata import timestamps as ts

FIXTURES = Path(__file__).parent / "fixtures"


def newest_event(sandbox, index: int) -> dict:
    return workspace(sandbox).events_for(index, sort="asc")[-1]


def shifted(stamp: str, seconds: float) -> str:
    return ts.format_utc(ts.parse(stamp) + timedelta(seconds=seconds))


def change_profile(sandbox, profile_id: str, **change) -> dict:
    response = requests.post(
        f"{sandbox.url}/_sandbox/primedata/profiles",
        json={"profile_id": profile_id, **change},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["profile"]


def test_late_events_stamped_before_the_last_run_are_read_next_run_exactly_once(sandbox):
    ids = profile_ids(sandbox)
    first = run_tap(tap_config(sandbox))  # ends at "now": after every generated event
    assert first.events() == expected_events(sandbox)
    newest = newest_event(sandbox, 0)["time_stamp"]
    late = append_events(sandbox, ids[0], [
        {"event_name": "PageView", "time_stamp": newest},  # a tie with the newest emitted
        {"event_name": "PageView", "time_stamp": shifted(newest, 30)},
        {"event_name": "AppOpened", "time_stamp": shifted(newest, 3600)},
    ])  # fmt: skip
    late += append_events(sandbox, ids[5], [
        {"event_name": "PageView", "time_stamp": shifted(newest_event(sandbox, 5)["time_stamp"], 1)}
    ])  # fmt: skip
    second = run_tap(tap_config(sandbox), state=first.final_state)
    assert set(second.events()) == set(late)
    third = run_tap(tap_config(sandbox), state=second.final_state)
    assert third.events() == {}
    assert third.records("profiles") == []


def test_lookback_window_rereads_before_the_bookmark(sandbox):
    ids = profile_ids(sandbox, 1)
    config = tap_config(sandbox, profile_ids=ids)
    first = run_tap(config)
    newest = newest_event(sandbox, 0)["time_stamp"]
    older = append_events(sandbox, ids[0], [
        {"event_name": "PageView", "time_stamp": shifted(newest, -120)},
    ])  # fmt: skip
    without = run_tap(config, state=first.final_state)
    assert without.events() == {}  # older than the newest emitted: outside any window
    within = run_tap({**config, "lookback_window": 600}, state=first.final_state)
    window_start = ts.to_key(ts.parse(shifted(newest, -600)))
    again = {
        e["id"]
        for e in workspace(sandbox).events_for(0, sort="asc")
        if ts.to_key(ts.parse(e["time_stamp"])) >= window_start
    }
    assert set(older) <= set(within.events()) <= again
    after = run_tap({**config, "lookback_window": 600}, state=within.final_state)
    assert set(after.events()) <= again  # duplicates only inside the window


def test_the_lookback_window_starts_exactly_lookback_before_the_bookmark(sandbox):
    ids = profile_ids(sandbox, 1)
    config = tap_config(sandbox, profile_ids=ids, lookback_window=86400)
    first = run_tap(config)
    newest = newest_event(sandbox, 0)["time_stamp"]
    edge, outside = append_events(sandbox, ids[0], [
        {"event_name": "PageView", "time_stamp": shifted(newest, -86400)},
        {"event_name": "PageView", "time_stamp": shifted(newest, -86400.05)},  # 50 ms before
    ])  # fmt: skip
    again = run_tap(config, state=first.final_state).events()
    assert edge in again and outside not in again


def test_profiles_are_sent_when_new_or_changed(sandbox):
    ids = profile_ids(sandbox)
    config = tap_config(sandbox, profile_ids=ids[:10])
    first = run_tap(config, streams=("profiles",))
    assert len(first.records("profiles")) == 10
    assert run_tap(config, first.final_state, ("profiles",)).records("profiles") == []

    changed = change_profile(sandbox, ids[3], trait={"full_name": "Le Thi Moi"})
    grown = {**config, "profile_ids": ids[:12]}
    third = run_tap(grown, first.final_state, ("profiles",))
    sent = {r["profile_id"]: r for r in third.records("profiles")}
    assert set(sent) == {ids[3], ids[10], ids[11]}
    assert sent[ids[3]]["trait"]["full_name"] == "Le Thi Moi"
    assert sent[ids[3]]["last_updated"] == to_rfc3339(changed["last_updated"])
    assert run_tap(grown, third.final_state, ("profiles",)).records("profiles") == []


def test_a_profile_without_last_updated_is_always_sent(sandbox):
    ids = profile_ids(sandbox, 2)
    change_profile(sandbox, ids[0], last_updated="not a time")  # a broken upstream
    config = tap_config(sandbox, profile_ids=ids)
    first = run_tap(config, streams=("profiles",))
    second = run_tap(config, first.final_state, ("profiles",))
    assert [r["profile_id"] for r in second.records("profiles")] == [ids[0]]
    assert second.records("profiles")[0]["last_updated"] is None


def test_changing_profile_properties_sends_every_profile_once(sandbox):
    ids = profile_ids(sandbox, 4)
    config = tap_config(sandbox, profile_ids=ids)
    first = run_tap(config, streams=("profiles",))
    narrowed = {**config, "profile_properties": ["full_name"]}
    second = run_tap(narrowed, first.final_state, ("profiles",))
    assert len(second.records("profiles")) == 4
    for record in second.records("profiles"):
        assert set(record["trait"]) == {"full_name"}
    assert run_tap(narrowed, second.final_state, ("profiles",)).records("profiles") == []


def _catalog(tmp_path: Path, config: dict, method: str, where: str) -> Path:
    catalog = json.loads(run_cli(config, tmp_path, extra=["--discover"]).stdout)
    for entry in catalog["streams"]:
        stream = next(m["metadata"] for m in entry["metadata"] if not m["breadcrumb"])
        stream["selected"] = entry["tap_stream_id"] == "profiles"
        if entry["tap_stream_id"] == "profiles":
            if where == "metadata":  # as Meltano's `metadata:` extra writes it
                stream["replication-method"] = method
            else:
                entry["replication_method"] = method
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


@pytest.mark.parametrize("where", ["metadata", "entry"])
def test_full_table_catalog_sends_every_profile_every_run(sandbox, tmp_path, where):
    config = tap_config(sandbox, profile_ids=profile_ids(sandbox, 5))
    catalog = _catalog(tmp_path, config, "FULL_TABLE", where)
    first = run_cli(config, tmp_path, extra=["--catalog", str(catalog)])
    second = run_cli(config, tmp_path, first.final_state, extra=["--catalog", str(catalog)])
    assert first.returncode == second.returncode == 0, second.stderr
    assert len(first.records("profiles")) == len(second.records("profiles")) == 5
    assert first.records("events") == []


@pytest.mark.parametrize(
    "state",
    [
        {"bookmarks": {"events": {"primedata": {"version": 7}}}},
        {"bookmarks": {"events": {"primedata": {"version": 2, "tables": ["!!corrupt"]}}}},
        {"bookmarks": {"profiles": {"primedata": {"version": 1, "seen": [12]}}}},
        {"bookmarks": {"profiles": {"primedata": {"seen": []}}}},
        {"bookmarks": {"profiles": {"primedata": {"version": 2, "seen": []}}}},
    ],
)
def test_an_unreadable_state_stops_with_one_line_naming_state(sandbox, tmp_path, state):
    out = run_cli(tap_config(sandbox), tmp_path, state)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "--state" in errors[0], out.stderr
    assert out.records("events") == out.records("profiles") == []


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    fixture = json.loads((FIXTURES / "state_v1.json").read_text())
    return SandboxConfig(workspace=WorkspaceConfig(**fixture["workspace"]))


def test_release_1_state_resumes_without_rereading_or_gaps(sandbox):
    """`state_v1.json` was written by release 1 (`generations`, `partial`, `run`) with
    `end_date` = `fixture["end_date"]`, over this workspace."""
    fixture = json.loads((FIXTURES / "state_v1.json").read_text())
    end = fixture["end_date"]
    finished = run_tap(tap_config(sandbox), state=fixture["final_state"], streams=("events",))
    assert finished.events() == expected_events(sandbox, start=shifted(end, -1))

    midrun = run_tap(
        tap_config(sandbox, end_date=end), state=fixture["midrun_state"], streams=("events",)
    )
    before = set(fixture["emitted_before_midrun_state"])
    everything = set(expected_events(sandbox, end=end))
    assert set(midrun.events()) == everything - before
    assert not set(midrun.events()) & before

    later = run_tap(tap_config(sandbox), state=finished.final_state, streams=("events",))
    assert later.events() == {}


def test_sigkill_mid_run_then_resume_from_the_last_state_loses_nothing(sandbox, tmp_path):
    sandbox.set_faults(latency_ms=5)
    config = tap_config(sandbox, page_size=3, max_concurrency=2, state_interval_records=5)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    tap = subprocess.Popen(
        [sys.executable, "-m", "tap_primedata", "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    messages, states = [], 0
    assert tap.stdout is not None
    for line in tap.stdout:
        messages.append(json.loads(line))
        states += messages[-1]["type"] == "STATE"
        if states >= 6:
            break
    tap.send_signal(signal.SIGKILL)
    tap.wait(timeout=30)
    cut = max(i for i, m in enumerate(messages) if m["type"] == "STATE")
    before = {
        m["record"]["id"]
        for m in messages[:cut]
        if m["type"] == "RECORD" and m["stream"] == "events"
    }
    sandbox.set_faults()
    resumed = run_tap(config, state=messages[cut]["value"])
    everything = set(expected_events(sandbox))
    assert before and before < everything
    assert set(resumed.events()) == everything - before
