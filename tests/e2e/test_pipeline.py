"""The whole pipeline, `tap-primedata | target-cdp` as subprocesses, against a real sandbox:
every record reaches every destination, also through 5xx, 429, latency and dropped
connections; and `./scripts/demo` works from one command and stops its sandbox."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import requests
from e2e_helpers import assert_complete, expected, tail

from cdp_sandbox.config import SandboxConfig, Workspace

ROOT = Path(__file__).resolve().parents[2]
PROFILES = 12


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=PROFILES, events_per_profile=10, seed=11))


def test_every_record_reaches_every_route(sandbox, run, tmp_path):
    result = run(PROFILES)
    assert (result.tap_code, result.target_code) == (0, 0), tail(result.target_log)
    assert_complete(sandbox, expected(sandbox, PROFILES))
    rejected = tmp_path / "rejected.jsonl"
    assert not rejected.exists() or rejected.read_text() == ""
    assert result.last_state and "bookmarks" in result.last_state
    assert "Traceback" not in result.target_log.read_text()


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"error_rate": 0.15, "drop_rate": 0.05, "seed": 5}, id="5xx-and-drops"),
        pytest.param({"rate_limit": 40, "retry_after": 1, "latency_ms": 5}, id="429-and-latency"),
    ],
)
def test_faults_lose_nothing(sandbox, run, faults):
    sandbox.set_faults(**faults)
    result = run(PROFILES, target={"max_retry_wait": 2})
    assert (result.tap_code, result.target_code) == (0, 0), tail(result.target_log)
    injected = requests.get(f"{sandbox.url}/_sandbox/faults", timeout=10).json()["injected"]
    assert sum(injected.values()) > 0, "no fault was injected: the test proves nothing"
    sandbox.set_faults()  # no faults while reading what arrived
    assert_complete(sandbox, expected(sandbox, PROFILES))


def test_demo_script_delivers_and_stops_its_sandbox(tmp_path):
    env = {
        **os.environ,
        "DEMO_OUT": str(tmp_path / "demo"),
        "DEMO_PROFILES": "10",
        "DEMO_EVENTS": "5",
    }
    done = subprocess.run(
        [str(ROOT / "scripts" / "demo")], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for name in ("dmartech", "engagelab", "nxcloud"):
        assert name in done.stdout
    url = re.search(r"cdp-sandbox at (http://\S+?):", done.stdout)
    assert url, done.stdout
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url.group(1)}/_sandbox/health", timeout=2)
