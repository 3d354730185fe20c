"""Scheduled `meltano run`s: an unchanged profile is not sent again, a changed one is, and
`metadata: {profiles: {replication-method: FULL_TABLE}}` on the extractor sends every
profile every run. Deselect with `-m "not meltano"`."""

from __future__ import annotations

import pytest
import requests
import yaml
from test_meltano import PROFILES, _meltano, meltano_project

from cdp_sandbox.config import SandboxConfig, Workspace

pytestmark = pytest.mark.meltano


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=PROFILES, events_per_profile=3, seed=5))


def _customer_batches(sandbox) -> int:
    return sandbox.calls().get("nxcloud:batch_create", 0)


def test_profiles_sent_when_changed_and_every_run_when_full_table(sandbox, tmp_path):
    ws, project, _lookups, env = meltano_project(sandbox, tmp_path)
    env = {**env, "TARGET_CDP_LEDGER_URI": "none"}

    def run() -> int:
        before = _customer_batches(sandbox)
        done = _meltano(project, env, "run", "tap-primedata", "target-cdp")
        assert done.returncode == 0, done.stderr[-4000:]
        return _customer_batches(sandbox) - before

    assert run() >= 1  # everything, the first time
    assert run() == 0  # nothing changed: no customer sent
    changed = requests.post(
        f"{sandbox.url}/_sandbox/primedata/profiles",
        json={"profile_id": ws.profile_id(2), "trait": {"full_name": "Tran Van Moi"}},
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    assert run() == 1
    assert "Moi" in str(sandbox.received()["nxcloud"]["customers"][-1])  # the new name

    spec = yaml.safe_load((project / "meltano.yml").read_text())
    tap = next(p for p in spec["plugins"]["extractors"] if p["name"] == "tap-primedata")
    tap["metadata"] = {"profiles": {"replication-method": "FULL_TABLE"}}
    (project / "meltano.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    sent = len(sandbox.received()["nxcloud"]["customers"])
    assert run() >= 1
    assert len(sandbox.received()["nxcloud"]["customers"]) - sent == PROFILES
