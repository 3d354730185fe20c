"""`source scripts/bootstrap` in a user's shell: PATH gains `.venv/bin` and nothing else changes;
a failed install returns non-zero and leaves the shell open, its options as they were."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ("errexit", "nounset", "pipefail")
SHOW = 'echo "rc=$?"; set -o; echo "PATH=$PATH"; echo alive'


def _fake_checkout(tmp_path: Path, python: str) -> Path:
    """A checkout with scripts/bootstrap and a .venv whose `python` is `python` (a script)."""
    root = tmp_path / "checkout"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "bootstrap", root / "scripts" / "bootstrap")
    (root / "pyproject.toml").write_text("")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").write_text(f"#!/bin/sh\n{python}\n")
    (bin_dir / "python").chmod(0o755)
    return root


def _source(root: Path) -> tuple[str, dict[str, str], str]:
    """Source bootstrap in a fresh bash: (its status, the shell's options after, PATH after)."""
    done = subprocess.run(
        ["bash", "-c", f"CDP_EXTRAS=test source {root}/scripts/bootstrap; {SHOW}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stdout.splitlines()
    assert lines[-1] == "alive", done.stdout + done.stderr
    options = dict(line.split() for line in lines if line.split()[0] in OPTIONS)
    path = next(line for line in lines if line.startswith("PATH="))
    return lines[0], options, path


def test_sourcing_bootstrap_only_puts_the_venv_on_path(tmp_path):
    root = _fake_checkout(tmp_path, f'exec {sys.executable} "$@"')
    (root / ".venv" / ".installed-test").touch()  # installed already: nothing to do
    status, options, path = _source(root)
    assert status == "rc=0"
    assert options == dict.fromkeys(OPTIONS, "off")
    assert path.startswith(f"PATH={root}/.venv/bin:")


def test_a_failed_install_returns_non_zero_and_keeps_the_shell(tmp_path):
    root = _fake_checkout(tmp_path, "exit 3")  # every pip call fails
    status, options, path = _source(root)
    assert status == "rc=1"
    assert options == dict.fromkeys(OPTIONS, "off")
    assert f"{root}/.venv/bin" not in path
