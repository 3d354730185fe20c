"""No secret of the four services (nor EngageLab's Basic token) appears in any stdout, stderr,
log, dead-letter or dry-run file of real runs: a normal run at DEBUG level under faults, a dry
run, a run that dead-letters, and runs that fail on bad credentials."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import all_lookups, assert_no_secrets, secret_values

from cdp_demo import configs
from cdp_demo.pipeline import Pipeline, Run
from cdp_sandbox.config import SandboxConfig, Workspace

PROFILES = 6


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=PROFILES, events_per_profile=6, seed=31))


def _run(sandbox, out: Path, *, tap: dict | None = None, target: dict | None = None) -> Run:
    tap_cfg = configs.tap_config(sandbox.url, sandbox.credentials, **all_lookups(sandbox, PROFILES))
    target_cfg = configs.target_config(sandbox.url, sandbox.credentials, out)
    tap_cfg.update(tap or {})
    for key, value in (target or {}).items():
        if isinstance(value, dict) and isinstance(target_cfg.get(key), dict):
            target_cfg[key] = {**target_cfg[key], **value}
        else:
            target_cfg[key] = value
    return Pipeline(tap_cfg, target_cfg, out).wait(120)


@pytest.fixture
def debug_logs(monkeypatch):
    """The Singer SDK's most verbose logging, inherited by the subprocesses."""
    monkeypatch.setenv("LOGLEVEL", "DEBUG")
    monkeypatch.setenv("TARGET_CDP_LOG_LEVEL", "DEBUG")


def test_the_secrets_are_what_we_grep_for(sandbox):
    values = secret_values(sandbox)
    creds = sandbox.credentials
    for value in (creds.primedata_api_key, creds.dmartech_secret, creds.nxcloud_access_secret):
        assert value in values
    assert len(values) >= 7


def test_debug_run_under_faults(sandbox, tmp_path, debug_logs):
    sandbox.set_faults(error_rate=0.2, seed=9)
    result = _run(sandbox, tmp_path, target={"max_retry_wait": 1})
    assert result.target_code == 0, result.target_log.read_text()[-2000:]
    assert_no_secrets(sandbox, tmp_path)


def test_dry_run(sandbox, tmp_path):
    dry = tmp_path / "requests.dryrun.jsonl"
    result = _run(sandbox, tmp_path, target={"dry_run": True, "dry_run_path": str(dry)})
    assert result.target_code == 0, result.target_log.read_text()[-2000:]
    assert dry.exists() and dry.stat().st_size > 0
    assert_no_secrets(sandbox, tmp_path)


def test_dead_letters(sandbox, tmp_path):
    bad_route = {  # events have no first/last name: NXCloud refuses every one of them
        "stream": "events",
        "destination": "nxcloud",
        "type": "customer",
        "fields": {"email": "properties.email"},
    }
    mappings = [*configs.MAPPINGS, bad_route]
    result = _run(sandbox, tmp_path, target={"mappings": mappings})
    assert result.target_code != 0
    dead = tmp_path / "rejected.jsonl"
    assert dead.exists() and dead.stat().st_size > 0
    assert_no_secrets(sandbox, tmp_path)


@pytest.mark.parametrize(
    "vendor,setting,real",
    [
        ("dmartech", "secret", "dmartech_secret"),
        ("engagelab", "api_secret", "engagelab_api_secret"),
        ("nxcloud", "access_secret", "nxcloud_access_secret"),
    ],
)
def test_wrong_target_credentials(sandbox, tmp_path, vendor, setting, real):
    # A wrong value that contains the real one: it must be redacted as a whole.
    wrong = "x" + getattr(sandbox.credentials, real) + "-wrong"
    result = _run(sandbox, tmp_path, target={vendor: {setting: wrong}})
    assert result.target_code != 0
    log = result.target_log.read_text()
    assert wrong not in log
    assert f"{vendor}.{setting}" in log or setting in log, log[-2000:]
    assert "Traceback" not in log
    assert_no_secrets(sandbox, tmp_path)


def test_wrong_tap_key(sandbox, tmp_path):
    wrong = sandbox.credentials.primedata_api_key + "-wrong"
    result = _run(sandbox, tmp_path, tap={"api_key": wrong})
    assert result.tap_code != 0
    assert wrong not in result.tap_log.read_text()
    assert_no_secrets(sandbox, tmp_path)
