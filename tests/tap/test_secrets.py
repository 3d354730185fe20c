"""The API key never appears in stdout, stderr or logs, whatever happens in the run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tap_helpers import ROOT, run_cli, tap_config

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_key_never_printed(sandbox, tmp_path, monkeypatch):
    key = sandbox.credentials.primedata_api_key
    monkeypatch.setenv("TAP_PRIMEDATA_LOG_LEVEL", "DEBUG")  # the chattiest the tap gets
    sandbox.set_faults(error_rate=0.2, drop_rate=0.1, seed=5)
    lookups = {"email": ["nobody@example.com"], "phone_numdber": ["1"]}
    config = tap_config(sandbox, log_request_metrics=True, max_tries=15, identities=lookups)
    out = run_cli(config, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.messages and "Retrying" in out.stderr
    assert_no_secret(json.dumps(out.messages) + out.stderr, *sandbox.secrets())
    resumed = run_cli(config, tmp_path, state=out.final_state)
    assert_no_secret(json.dumps(resumed.messages) + resumed.stderr, key)


def test_wrong_key_not_echoed(sandbox, tmp_path):
    wrong, right = "wrong-key-Zx81Q0", sandbox.credentials.primedata_api_key
    out = run_cli(tap_config(sandbox, api_key=wrong), tmp_path)
    assert out.returncode == 1
    assert_no_secret(json.dumps(out.messages) + out.stderr, wrong, right)


def cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tap_primedata", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_about_and_discovery_hide_the_key(sandbox, tmp_path):
    key = sandbox.credentials.primedata_api_key
    path = tmp_path / "config.json"
    path.write_text(json.dumps(tap_config(sandbox)))
    for flags in (["--about", "--format", "json"], ["--discover"]):
        done = cli("--config", str(path), *flags)
        assert done.returncode == 0
        assert_no_secret(done.stdout + done.stderr, key)
    about = json.loads(cli("--about", "--format", "json").stdout)
    assert about["settings"]["properties"]["api_key"].get("secret") is True
