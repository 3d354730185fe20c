"""Checks and runner shared by the bad-input suites (`test_tap_bad_inputs.py`,
`test_target_bad_inputs.py`): secrets in every form, the single error line, the executables."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

from cdp_demo.pipeline import executable


# output checks ---------------------------------------------------------------------------
def forms(secret: str) -> set[str]:
    """A secret as it could leak: raw, URL-encoded (two ways), base64 (padded or not)."""
    b64 = base64.b64encode(secret.encode()).decode()
    return {secret, quote(secret, safe=""), quote_plus(secret), b64, b64.rstrip("=")}


def assert_no_secret(secrets: list[str], *texts: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            for text in texts:
                assert form not in text, f"a secret ({len(secret)} chars) leaked"


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


def assert_one_error(done: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    """Exit status `status`, no traceback, exactly one ERROR line, naming every needle."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == status, done.stderr[-3000:]
    errors = error_lines(done.stderr)
    assert len(errors) == 1, "\n".join(errors) or done.stderr[-3000:]
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def run(
    name: str,
    config: dict,
    tmp_path: Path,
    stdin: str = "",
    preexec: Callable[[], None] | None = None,
    **env: str,
) -> subprocess.CompletedProcess:
    """Run `tap-primedata` or `target-cdp` with `config` in `tmp_path`; stdin for the target."""
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [executable(name), "--config", str(path)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, **env},
        preexec_fn=preexec,
    )
