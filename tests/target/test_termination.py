"""SIGTERM while input is still coming: the target stops reading, delivers what it read,
writes that STATE and exits non-zero with one line (the seam's `on_signal` hook, through the
SDK's own signal handler), on the real executable against the sandbox."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from ledger_helpers import USERS_SCHEMA, config, upserts, user

from cdp_demo.pipeline import executable


def test_sigterm_mid_input_delivers_what_was_read_and_its_state(
    sandbox: Any, tmp_path: Path
) -> None:
    cfg = config(sandbox, tmp_path, "none")
    (tmp_path / "target.json").write_text(json.dumps(cfg))
    proc = subprocess.Popen(
        [executable("target-cdp"), "--config", str(tmp_path / "target.json")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr").open("wb"),
        cwd=tmp_path,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines = [USERS_SCHEMA, *[user(i) for i in range(12)], {"type": "STATE", "value": {"n": 12}}]
    proc.stdin.write("".join(json.dumps(m) + "\n" for m in lines).encode())
    proc.stdin.flush()  # the input stays open: the target is waiting for more
    deadline = time.monotonic() + 60
    while len(upserts(sandbox)) < 10:  # the full batches are out; the last 2 wait for input
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    stderr = (tmp_path / "stderr").read_text()
    assert proc.returncode == 1, stderr[-2000:]
    assert "Stopping: terminated by signal 15; delivering what was read" in stderr
    assert "Traceback" not in stderr
    assert sorted(u["user_id"] for u in upserts(sandbox)) == sorted(f"u{i}" for i in range(12))
    assert [json.loads(line) for line in out.decode().splitlines()] == [{"n": 12}]
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "stopped"
