"""Retries (5xx, 429 with Retry-After, dropped connections, timeouts), skipped lookups, 401."""

from __future__ import annotations

import logging
import threading

import pytest
from tap_helpers import expected_events, profile_ids, run_cli, run_tap, tap_config, workspace

from cdp_sandbox.config import SandboxConfig, Workspace

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=12, events_per_profile=15, seed=11))


def profiles_of(output) -> list[dict]:
    return sorted(output.records("profiles"), key=lambda r: r["profile_id"])


def test_server_errors_and_dropped_connections_change_nothing(sandbox, caplog):
    clean = run_tap(tap_config(sandbox))
    sandbox.set_faults(error_rate=0.15, drop_rate=0.1, seed=3)
    with caplog.at_level(logging.WARNING):
        faulty = run_tap(tap_config(sandbox, max_tries=12))
    assert faulty.events() == clean.events() == expected_events(sandbox)
    assert profiles_of(faulty) == profiles_of(clean)
    retried = caplog.text
    assert "after HTTP 5" in retried and "after ConnectionError" in retried


def test_rate_limit_honours_retry_after(sandbox, caplog):
    sandbox.set_faults(rate_limit=15, retry_after=1)
    with caplog.at_level(logging.WARNING):
        out = run_tap(tap_config(sandbox, page_size=5))
    assert out.events() == expected_events(sandbox)
    assert "in 1.00s after HTTP 429" in caplog.text  # waited exactly Retry-After


def test_timeouts_are_retried(sandbox, caplog):
    sandbox.set_faults(latency_ms=400)
    healer = threading.Timer(0.8, sandbox.set_faults)  # the API recovers after a while
    healer.start()
    try:
        with caplog.at_level(logging.WARNING):
            config = tap_config(sandbox, request_timeout=0.1, max_tries=30, retry_max_delay=0.1)
            out = run_tap(config, streams=("events",))
    finally:
        healer.cancel()
    assert out.events() == expected_events(sandbox)
    assert "after ReadTimeout" in caplog.text


def test_missing_and_invalid_lookups_are_skipped_and_counted(sandbox, caplog):
    ws, ids = workspace(sandbox), profile_ids(sandbox, 4)
    config = tap_config(
        sandbox,
        profile_ids=[*ids[:3], "2NoSuchProfileXXXXXXXXXXXXX"],
        identities={"email": [ws.identities(3)["email"][0], "nobody@example.com"],
                    "phone_numdber": ["0123456789"]},
    )  # fmt: skip
    with caplog.at_level(logging.INFO):
        out = run_tap(config)
    assert out.events() == expected_events(sandbox, 4)
    assert len(out.records("profiles")) == 4
    summaries = [r.getMessage() for r in caplog.records if "summary" in r.getMessage()]
    assert len(summaries) == 2
    for line in summaries:
        assert "'skipped_not_found': 2" in line and "'skipped_validation_error': 1" in line
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("nobody@example.com" in r.getMessage() for r in warnings)


def test_wrong_api_key_stops_with_one_line(sandbox, tmp_path):
    wrong = "definitely-not-the-key-0123456789"
    out = run_cli(tap_config(sandbox, api_key=wrong), tmp_path)
    assert out.returncode == 1
    assert not [m for m in out.messages if m["type"] == "RECORD"]
    errors = [line for line in out.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "`api_key`" in errors[0] and "401" in errors[0]
    assert "Traceback" not in out.stderr and wrong not in out.stderr
