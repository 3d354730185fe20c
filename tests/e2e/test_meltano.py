"""`meltano run tap-primedata target-cdp` end to end against a sandbox, twice: the second run
starts from the state Meltano stored, delivers no event twice, and reads only what is new
(plus the whole history of a profile lookup added between the runs).

The project's own meltano.yml is used, copied to a temporary directory with each plugin pointed
at the executable already installed in this venv (no `pip_url`), so nothing is installed.
Deselect with `-m "not meltano"`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
import yaml
from e2e_helpers import assert_complete, assert_no_secrets, expected, holdings

from cdp_demo import configs
from cdp_demo.pipeline import BIN
from cdp_sandbox.config import SandboxConfig, Workspace

pytestmark = pytest.mark.meltano

ROOT = Path(__file__).resolve().parents[2]
MELTANO = BIN / "meltano"
PROFILES = 8


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    # One profile more than the first run reads: the second run adds its lookup.
    return SandboxConfig(workspace=Workspace(profiles=PROFILES + 1, events_per_profile=8, seed=3))


def _project(tmp_path: Path) -> Path:
    """The repository's meltano.yml in a temporary project, plugins on local executables."""
    spec = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for kind in ("extractors", "loaders"):
        for plugin in spec["plugins"][kind]:
            if "inherit_from" in plugin:
                continue
            plugin.pop("pip_url", None)
            plugin["executable"] = str(BIN / plugin["executable"])
    project = tmp_path / "project"
    (project / "output").mkdir(parents=True)
    (project / "meltano.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return project


def _write_lookups(path: Path, ws, n: int) -> None:
    """Half the profiles by id, the rest by email, as a profiles_file."""
    lines = []
    for i in range(n):
        if i % 2 == 0:
            lines.append({"profile_id": ws.profile_id(i)})
        else:
            lines.append({"identity": "email", "value": ws.identities(i)["email"][0]})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _env(sandbox, project: Path, lookups: Path) -> dict[str, str]:
    creds = sandbox.credentials
    return {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{project / '.meltano' / 'meltano.db'}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DISABLE_TRACKING": "true",
        "MELTANO_ENVIRONMENT": "sandbox",
        "NO_COLOR": "1",
        "CDP_SANDBOX_URL": sandbox.url,
        "CDP_SANDBOX_PROFILES_FILE": str(lookups),
        "TAP_PRIMEDATA_API_KEY": creds.primedata_api_key,
        "TARGET_CDP_DMARTECH_SECRET": creds.dmartech_secret,
        "TARGET_CDP_ENGAGELAB_API_KEY": creds.engagelab_api_key,
        "TARGET_CDP_ENGAGELAB_API_SECRET": creds.engagelab_api_secret,
        "TARGET_CDP_NXCLOUD_ACCESS_KEY": creds.nxcloud_access_key,
        "TARGET_CDP_NXCLOUD_ACCESS_SECRET": creds.nxcloud_access_secret,
    }


def _meltano(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MELTANO), *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def meltano_project(sandbox, tmp_path: Path, profiles: int = PROFILES) -> tuple:
    """`(workspace, project dir, lookups file, environment)` of a Meltano project on this
    repository's meltano.yml reading the first `profiles` lookups (meltano must be installed)."""
    if not MELTANO.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{MELTANO} is missing: scripts/bootstrap installs it")
        pytest.skip("meltano is not installed in this venv (scripts/bootstrap installs it)")
    ws = sandbox.server.app.primedata
    project = _project(tmp_path)
    lookups = tmp_path / "profiles.jsonl"
    _write_lookups(lookups, ws, profiles)
    return ws, project, lookups, _env(sandbox, project, lookups)


def test_meltano_run_twice_resumes_from_stored_state(sandbox, tmp_path):
    ws, project, lookups, env = meltano_project(sandbox, tmp_path)

    first = _meltano(project, env, "run", "tap-primedata", "target-cdp")
    assert first.returncode == 0, first.stderr[-4000:]
    assert_complete(sandbox, expected(sandbox, PROFILES))
    stored = _meltano(project, env, "state", "get", "sandbox:tap-primedata-to-target-cdp")
    assert stored.returncode == 0 and "bookmarks" in stored.stdout, stored.stderr[-2000:]

    # Between the runs: two new events on profile 0, and one more profile lookup.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    new_events = [
        {
            "event_name": "PageView",
            "time_stamp": now.isoformat().replace("+00:00", "Z"),
            "properties": {"page_url": "/new", "email": ws.identities(0)["email"][0]},
        },
        {
            "event_name": "AppOpened",
            "time_stamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": {"platform": "ios"},
        },
    ]
    added = requests.post(
        f"{sandbox.url}/_sandbox/primedata/events",
        json={"profile_id": ws.profile_id(0), "events": new_events},
        timeout=10,
    )
    assert added.status_code == 200, added.text
    new_ids = set(added.json()["ids"])
    _write_lookups(lookups, ws, PROFILES + 1)
    before = holdings(sandbox)

    second = _meltano(project, env, "run", "tap-primedata", "target-cdp")
    assert second.returncode == 0, second.stderr[-4000:]
    want = expected(sandbox, PROFILES + 1)
    assert new_ids <= want.event_ids
    have = assert_complete(sandbox, want)
    assert have["duplicates"] == {"dmartech": 0, "engagelab": 0}, "an event was sent twice"
    newcomer = {e["id"] for e in ws.events_for(PROFILES)}
    sent_again = have["counts"]["dmartech"]["events"] - before["counts"]["dmartech"]["events"]
    assert sent_again == len(new_ids | newcomer)

    shard = _meltano(project, env, "config", "print", "tap-primedata--shard1")
    assert shard.returncode == 0, shard.stderr[-2000:]
    assert (json.loads(shard.stdout)["shard_count"], json.loads(shard.stdout)["shard_index"]) == (
        2,
        1,
    )

    assert_no_secrets(
        sandbox,
        project / "output",
        project / ".meltano" / "logs",
        texts=(first.stdout, first.stderr, second.stdout, second.stderr),
    )


def test_two_shards_run_in_parallel_each_with_its_own_state(sandbox, tmp_path):
    """The README's parallel recipe: one inherited plugin per shard (its own run folder and
    state id), started at the same time, together deliver every profile and event once."""
    _ws, project, _lookups, env = meltano_project(sandbox, tmp_path)
    # The system database exists before runs are scheduled (`meltano install` makes it): two
    # first-ever commands starting together would both try to create its tables.
    assert _meltano(project, env, "state", "list").returncode == 0
    shards = [
        subprocess.Popen(
            [str(MELTANO), "run", f"tap-primedata--shard{i}", "target-cdp"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    outputs = [shard.communicate(timeout=300) for shard in shards]
    for shard, (_out, err) in zip(shards, outputs, strict=True):
        assert shard.returncode == 0, err[-4000:]
    have = assert_complete(sandbox, expected(sandbox, PROFILES))
    assert have["duplicates"] == {"dmartech": 0, "engagelab": 0}, "an event was sent twice"
    states = _meltano(project, env, "state", "list")
    assert states.returncode == 0, states.stderr[-2000:]
    assert set(states.stdout.split()) >= {
        "sandbox:tap-primedata--shard0-to-target-cdp",
        "sandbox:tap-primedata--shard1-to-target-cdp",
    }


def test_sandbox_environment_routes_are_the_demos():
    spec = yaml.safe_load((ROOT / "meltano.yml").read_text())
    sandbox_env = next(e for e in spec["environments"] if e["name"] == "sandbox")
    loaders = sandbox_env["config"]["plugins"]["loaders"]
    target = next(p for p in loaders if p["name"] == "target-cdp")
    assert target["config"]["mappings"] == configs.MAPPINGS
    assert target["config"]["stream_maps"] == configs.STREAM_MAPS


def test_meltano_yml_and_readme_match_the_plugins_about():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_docs.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"run scripts/sync_docs.py: {done.stderr}"


def test_meltano_yml_declares_the_plugins_capabilities():
    spec = yaml.safe_load((ROOT / "meltano.yml").read_text())
    declared = {
        p["name"]: p.get("capabilities", [])
        for k in ("extractors", "loaders")
        for p in spec["plugins"][k]
    }
    for name in ("tap-primedata", "target-cdp"):
        about = subprocess.run(
            [str(BIN / name), "--about", "--format=json"], capture_output=True, text=True
        )
        assert about.returncode == 0, about.stderr[-2000:]
        assert set(json.loads(about.stdout)["capabilities"]) <= set(declared[name])
