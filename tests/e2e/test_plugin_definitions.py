"""The Meltano Hub definitions in plugins/ and the plugins in meltano.yml are the plugins'
`--about`: `scripts/sync_docs.py --check` names every setting that one lists and the plugin does
not know, or that one misses, and a user's `meltano config set` does not upset it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cdp_demo.pipeline import BIN

ROOT = Path(__file__).resolve().parents[2]
SYNC = ROOT / "scripts" / "sync_docs.py"
TAP_DEF = Path("plugins/extractors/tap-primedata.yml")
TARGET_DEF = Path("plugins/loaders/target-cdp.yml")
MELTANO = BIN / "meltano"


def _copy_project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in ("meltano.yml", "README.md"):
        shutil.copy(ROOT / name, root / name)
    shutil.copytree(ROOT / "plugins", root / "plugins")
    return root


def _check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SYNC), "--check", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _edit(path: Path, edit) -> None:
    spec = yaml.safe_load(path.read_text())
    edit(spec)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_a_definition_with_an_unknown_or_a_missing_setting_fails_naming_each(tmp_path):
    root = _copy_project(tmp_path)

    def rename_page_size(spec):
        for setting in spec["settings"]:
            if setting["name"] == "page_size":
                setting["name"] = "page_sise"

    def drop_secret_and_unhide_key(spec):
        spec["settings"] = [s for s in spec["settings"] if s["name"] != "dmartech.secret"]
        for setting in spec["settings"]:
            if setting["name"] == "engagelab.api_secret":
                setting["sensitive"] = False

    _edit(root / TAP_DEF, rename_page_size)
    _edit(root / TARGET_DEF, drop_secret_and_unhide_key)
    done = _check(root)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert f"{TAP_DEF}: setting 'page_sise' is not a setting of tap-primedata" in done.stderr
    assert f"{TAP_DEF}: setting 'page_size' of tap-primedata is missing" in lines
    assert f"{TARGET_DEF}: setting 'dmartech.secret' of target-cdp is missing" in lines
    assert (
        f"{TARGET_DEF}: setting 'engagelab.api_secret' differs from target-cdp --about: sensitive"
        in lines
    )
    assert "Traceback" not in done.stderr


def test_the_readme_route_table_out_of_date_or_missing_fails(tmp_path):
    root = _copy_project(tmp_path)
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    row = "| engagelab | user | `identity_property` |"
    assert row in text
    readme.write_text(text.replace(row, "| engagelab | user | `identity_field` |"), "utf-8")
    done = _check(root)
    assert done.returncode == 1
    assert "README.md: the settings or route tables differ from --about" in done.stderr
    start, end = text.index("<!-- about:routes -->"), text.index("<!-- /about:routes -->")
    readme.write_text(text[:start] + text[end + len("<!-- /about:routes -->") :], "utf-8")
    done = _check(root)
    assert done.returncode == 1
    assert "README.md: no <!-- about:routes --> ... <!-- /about:routes --> markers" in done.stderr


def test_meltano_yml_missing_or_inventing_a_setting_fails_naming_it(tmp_path):
    root = _copy_project(tmp_path)

    text = (root / "meltano.yml").read_text()  # edited as a person would: comments stay
    assert text.count("- name: dead_letter_path\n") == 1
    (root / "meltano.yml").write_text(
        text.replace("- name: dead_letter_path\n", "- name: dead_letters\n")
    )
    done = _check(root)
    assert done.returncode == 1
    assert "meltano.yml: target-cdp: setting 'dead_letter_path' of target-cdp is missing" in (
        done.stderr
    )
    assert "meltano.yml: target-cdp: setting 'dead_letters' is not a setting of target-cdp" in (
        done.stderr
    )
    # Without --check the script puts it right, keeping everything else in the file.
    fixed = subprocess.run(
        [sys.executable, str(SYNC), "--root", str(root)], capture_output=True, text=True
    )
    assert fixed.returncode == 0, fixed.stderr
    assert _check(root).returncode == 0
    assert "# Secrets are never written here" in (root / "meltano.yml").read_text()


@pytest.mark.meltano
def test_the_docs_check_survives_meltano_config_set(tmp_path):
    if not MELTANO.exists():
        pytest.skip("meltano is not installed in this venv (scripts/bootstrap installs it)")
    root = _copy_project(tmp_path)
    before = (root / "meltano.yml").read_text()
    env = {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "PATH": str(BIN), "HOME": str(tmp_path)}
    args = ("config", "set", "target-cdp", "dmartech.batch_size", "100")
    done = subprocess.run(
        [str(MELTANO), *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (root / "meltano.yml").read_text() != before
    check = _check(root)
    assert check.returncode == 0, check.stderr


def test_the_definitions_are_valid_plugin_entries_for_meltano():
    jsonschema = pytest.importorskip("jsonschema")
    meltano_schema = pytest.importorskip("meltano.schemas")
    schema = json.loads((Path(meltano_schema.__file__).parent / "meltano.schema.json").read_text())
    tap = yaml.safe_load((ROOT / TAP_DEF).read_text())
    target = yaml.safe_load((ROOT / TARGET_DEF).read_text())
    # The SDK's targets report `validate-records`, which Meltano 4.4's schema does not list yet
    # (Meltano accepts it at run time); everything else must be valid as it is.
    target["capabilities"].remove("validate-records")
    project = {"plugins": {"extractors": [tap], "loaders": [target]}}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(project))
    assert not errors, [e.message for e in errors[:5]]


def test_every_secret_setting_is_sensitive_and_every_setting_documented():
    for path, executable in ((TAP_DEF, "tap-primedata"), (TARGET_DEF, "target-cdp")):
        spec = yaml.safe_load((ROOT / path).read_text())
        about = json.loads(
            subprocess.run(
                [str(BIN / executable), "--about", "--format=json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert spec["name"] == executable and spec["executable"] == executable
        assert spec["capabilities"] == sorted(about["capabilities"])
        for setting in spec["settings"]:
            assert {"name", "kind", "label", "description", "sensitive"} <= setting.keys()
            assert setting["label"] and setting["description"], setting["name"]
        sensitive = {s["name"] for s in spec["settings"] if s["sensitive"]}
        expected = {"api_key"} if executable == "tap-primedata" else {
            "dmartech.secret",
            "engagelab.api_key",
            "engagelab.api_secret",
            "nxcloud.access_key",
            "nxcloud.access_secret",
        }  # fmt: skip
        assert expected <= sensitive
