"""`tap-primedata | target-cdp` as two subprocesses, for the demo and the end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def executable(name: str) -> str:
    """The path of one of this project's executables, next to the running Python."""
    path = BIN / name
    return str(path) if path.exists() else name


@dataclass
class Run:
    """The outcome of one `tap | target` run; logs and state are files under `out`."""

    tap_code: int
    target_code: int
    seconds: float
    states: list[dict[str, Any]]
    tap_log: Path
    target_log: Path

    @property
    def last_state(self) -> dict[str, Any] | None:
        return self.states[-1] if self.states else None


class Pipeline:
    """`tap-primedata | target-cdp` as two subprocesses; configs, logs and the target's
    stdout (its STATE lines) are files under `out`, named after `name`."""

    def __init__(
        self,
        tap_cfg: dict[str, Any],
        target_cfg: dict[str, Any],
        out: Path,
        *,
        state: dict[str, Any] | None = None,
        name: str = "run",
    ) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "tap.json").write_text(json.dumps(tap_cfg, indent=2))
        (out / "target.json").write_text(json.dumps(target_cfg, indent=2))
        tap_cmd = [executable("tap-primedata"), "--config", str(out / "tap.json")]
        if state is not None:
            (out / f"{name}.state-in.json").write_text(json.dumps(state))
            tap_cmd += ["--state", str(out / f"{name}.state-in.json")]
        target_cmd = [executable("target-cdp"), "--config", str(out / "target.json")]
        self.tap_log, self.target_log = out / f"{name}.tap.log", out / f"{name}.target.log"
        self.state_path = out / f"{name}.state.jsonl"
        self.started = time.monotonic()
        with (
            self.tap_log.open("wb") as tap_err,
            self.target_log.open("wb") as target_err,
            self.state_path.open("wb") as state_out,
        ):
            self.tap = subprocess.Popen(tap_cmd, stdout=subprocess.PIPE, stderr=tap_err)
            self.target = subprocess.Popen(
                target_cmd, stdin=self.tap.stdout, stdout=state_out, stderr=target_err
            )
        assert self.tap.stdout is not None
        self.tap.stdout.close()  # the target holds the pipe; the tap sees EPIPE if it dies

    def states(self) -> list[dict[str, Any]]:
        """The states the target has written so far."""
        return read_states(self.state_path)

    def kill(self) -> None:
        """Stop both processes at once (SIGKILL), as a crash would."""
        for proc in (self.target, self.tap):
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def wait(self, timeout: float = 300) -> Run:
        """Wait for both processes; kill them if they outlive `timeout` seconds."""
        try:
            target_code = self.target.wait(timeout=timeout)
            tap_code = self.tap.wait(timeout=timeout)
        finally:
            self.kill()
        return Run(
            tap_code,
            target_code,
            time.monotonic() - self.started,
            self.states(),
            self.tap_log,
            self.target_log,
        )


def run_pipeline(
    tap_cfg: dict[str, Any],
    target_cfg: dict[str, Any],
    out: Path,
    *,
    state: dict[str, Any] | None = None,
    name: str = "run",
    timeout: float = 300,
) -> Run:
    """Write the configs under `out` and run `tap-primedata | target-cdp` to completion."""
    return Pipeline(tap_cfg, target_cfg, out, state=state, name=name).wait(timeout)


def read_states(path: Path) -> list[dict[str, Any]]:
    """Every state a target wrote to stdout: Singer STATE messages' `value`, or bare state
    objects (the Singer SDK's form); a torn last line is skipped."""
    states = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("type") == "STATE":
            states.append(message["value"])
        elif isinstance(message, dict) and "type" not in message:
            states.append(message)
    return states
