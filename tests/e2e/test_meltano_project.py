"""A user's own Meltano project, as README "Use it in your Meltano project" tells it: build the
package, `meltano init` a project outside this repository, add both plugins from the wheel with
the generated definitions (`meltano add --from-ref`), configure them with `meltano config set`
(dotted names for nested settings), and `meltano run tap-primedata target-cdp` twice against a
sandbox: the first run delivers everything, the second only what changed.

The wheel and sdist are built once per session (`python -m build`: the sdist first, then the
wheel from the sdist, so both are proven complete). Deselect with `-m "not meltano"`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import pytest
import requests
import yaml
from e2e_helpers import assert_no_secrets, holdings

from cdp_demo.pipeline import BIN
from cdp_sandbox.config import SandboxConfig, Workspace

pytestmark = pytest.mark.meltano

ROOT = Path(__file__).resolve().parents[2]
MELTANO = BIN / "meltano"
VERSION = version("cdp-connectors")  # pyproject.toml's, the one place it is set
PROFILES = 6
DEFINITIONS = {
    "tap-primedata": ("extractor", ROOT / "plugins" / "extractors" / "tap-primedata.yml"),
    "target-cdp": ("loader", ROOT / "plugins" / "loaders" / "target-cdp.yml"),
}
NOT_SOURCE = (".git", ".venv*", ".meltano", "*.egg-info", "__pycache__", ".*_cache", "output")
NOT_SOURCE += (".hypothesis", "build", "dist", "benchmarks")
# The README's first-run routes: profiles to Dmartech users (a stream map adds `full_name`),
# events to Dmartech events.
STREAM_MAPS = {"profiles": {"full_name": "trait.get('full_name') or profile_id"}}
MAPPINGS = [
    {
        "stream": "profiles",
        "destination": "dmartech",
        "type": "user",
        "fields": {"user_id": "profile_id", "email": "identity.email.0", "name": "full_name"},
    },
    {
        "stream": "events",
        "destination": "dmartech",
        "type": "event",
        "event_name_property": "event_name",
        "fields": {"event_id": "id", "create_time": "time_stamp", "user_id": "profile_id"},
    },
]


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=PROFILES, events_per_profile=5, seed=11))


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python -m build` of a copy of this checkout (nothing is written into it, so parallel
    test workers cannot collide), once per session: the folder with both files."""
    source = tmp_path_factory.mktemp("source") / "cdp-connectors"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return out


def _require_meltano() -> None:
    if not MELTANO.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{MELTANO} is missing: scripts/bootstrap installs it")
        pytest.skip("meltano is not installed in this venv (scripts/bootstrap installs it)")


def _meltano(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [str(MELTANO), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"meltano {' '.join(args[:3])}: {done.stderr[-4000:]}"
    return done


def test_build_makes_a_wheel_and_sdist_of_all_three_packages_at_one_version(dist):
    wheel = dist / f"cdp_connectors-{VERSION}-py3-none-any.whl"
    assert wheel.exists(), sorted(p.name for p in dist.iterdir())
    assert (dist / f"cdp_connectors-{VERSION}.tar.gz").exists()
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        scripts = zf.read(f"cdp_connectors-{VERSION}.dist-info/entry_points.txt").decode()
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert {"tap_primedata", "target_cdp", "cdp_sandbox"} <= packages
    for package in [*packages, "target_cdp/vendors"]:
        assert f"{package}/__init__.py" in names, f"{package} is not in the wheel"
    for executable in ("tap-primedata", "target-cdp", "cdp-sandbox"):
        assert f"{executable} = " in scripts, executable


def test_a_fresh_meltano_project_runs_the_wheel_twice(dist, sandbox, tmp_path):
    _require_meltano()
    wheel = dist / f"cdp_connectors-{VERSION}-py3-none-any.whl"
    creds = sandbox.credentials
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_", "TARGET_"))}
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "NO_COLOR": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    _meltano(tmp_path, env, "init", "my-project", "--no-usage-stats")
    project = tmp_path / "my-project"
    assert not project.resolve().is_relative_to(ROOT)

    # Both plugins from their Hub definitions, then pip_url pinned to the wheel, then install.
    for name, (kind, path) in DEFINITIONS.items():
        add = ("add", "--plugin-type", kind, name, "--from-ref", str(path), "--no-install")
        _meltano(project, env, *add)
    spec = yaml.safe_load((project / "meltano.yml").read_text())
    for kind in ("extractors", "loaders"):
        for plugin in spec["plugins"][kind]:
            assert plugin["pip_url"] == "cdp-connectors"  # the definition's: the package index
            plugin["pip_url"] = str(wheel)
    (project / "meltano.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    _meltano(project, env, "install")
    installed = project / ".meltano" / "extractors" / "tap-primedata" / "venv" / "bin"
    assert (installed / "tap-primedata").exists(), "meltano install did not install the wheel"
    sandbox_cli = subprocess.run(
        [str(installed / "cdp-sandbox"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert sandbox_cli.returncode == 0, "cdp-sandbox missing from the wheel"
    about = subprocess.run(
        [str(installed / "tap-primedata"), "--about", "--format=json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(about.stdout)["version"] == VERSION

    lookups = tmp_path / "profiles.jsonl"
    ws = sandbox.server.app.primedata
    ids = [ws.profile_id(i) for i in range(PROFILES)]
    lookups.write_text("".join(json.dumps({"profile_id": p}) + "\n" for p in ids))
    settings = [
        ("tap-primedata", "api_url", sandbox.url),
        ("tap-primedata", "api_key", creds.primedata_api_key),
        ("tap-primedata", "profiles_file", str(lookups)),
        ("target-cdp", "dmartech.api_url", f"{sandbox.url}/api/v1/api/import"),
        ("target-cdp", "dmartech.secret", creds.dmartech_secret),
        ("target-cdp", "stream_maps", json.dumps(STREAM_MAPS)),
        ("target-cdp", "mappings", json.dumps(MAPPINGS)),
    ]
    for plugin, name, value in settings:
        _meltano(project, env, "config", "set", plugin, name, value)
    dotenv = (project / ".env").read_text()
    assert "TARGET_CDP_DMARTECH_SECRET" in dotenv and "TAP_PRIMEDATA_API_KEY" in dotenv
    assert creds.dmartech_secret not in (project / "meltano.yml").read_text()

    first = _meltano(project, env, "run", "tap-primedata", "target-cdp")
    events = {e["id"] for i in range(PROFILES) for e in ws.events_for(i)}
    have = holdings(sandbox)
    assert have["dmartech_users"] == set(ids)
    assert have["dmartech_events"] == events
    assert have["counts"]["dmartech"]["users"] == PROFILES
    state_ids = _meltano(project, env, "state", "list").stdout.split()
    assert "dev:tap-primedata-to-target-cdp" in state_ids  # `meltano init`'s default environment

    # Between the runs: one new event on profile 0. The second run sends only that: no event
    # twice, no unchanged profile again.
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    added = requests.post(
        f"{sandbox.url}/_sandbox/primedata/events",
        json={
            "profile_id": ws.profile_id(0),
            "events": [{"event_name": "PageView", "time_stamp": now, "properties": {}}],
        },
        timeout=10,
    )
    assert added.status_code == 200, added.text
    second = _meltano(project, env, "run", "tap-primedata", "target-cdp")
    after = holdings(sandbox)
    assert after["dmartech_events"] == events | set(added.json()["ids"])
    assert after["counts"]["dmartech"]["events"] == len(events) + 1, "an event was sent twice"
    assert after["duplicates"]["dmartech"] == 0
    assert after["counts"]["dmartech"]["users"] == PROFILES, "an unchanged profile was re-sent"

    assert_no_secrets(
        sandbox,
        project / ".meltano" / "logs",
        texts=(first.stdout, first.stderr, second.stdout, second.stderr),
    )
