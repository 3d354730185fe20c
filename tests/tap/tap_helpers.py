"""Helpers for the tap tests: run the tap (in process or via its CLI) and read the workspace."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from cdp_sandbox.timeformat import to_rfc3339
from cdp_sandbox.workspace import Workspace
from tap_primedata.tap import TapPrimeData

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Output:
    """The Singer messages of one tap run."""

    messages: list[dict]
    stderr: str = ""
    returncode: int = 0
    stdout: str = ""
    _records: dict[str, list[dict]] = field(default_factory=dict)

    def records(self, stream: str) -> list[dict]:
        if stream not in self._records:
            self._records[stream] = [
                m["record"]
                for m in self.messages
                if m["type"] == "RECORD" and m["stream"] == stream
            ]
        return self._records[stream]

    def events(self) -> dict[str, dict]:
        """Event records by id (asserting no id is emitted twice)."""
        records = self.records("events")
        by_id = {r["id"]: r for r in records}
        assert len(by_id) == len(records), "an event was emitted twice"
        return by_id

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict:
        return self.states[-1]


def workspace(sandbox) -> Workspace:
    return sandbox.server.app.primedata


def profile_ids(sandbox, count: int | None = None) -> list[str]:
    ws = workspace(sandbox)
    return [ws.profile_id(i) for i in range(count if count is not None else ws.profiles)]


def tap_config(sandbox, **overrides: Any) -> dict[str, Any]:
    """A config reading every profile of the sandbox by id, fast retries for tests."""
    config: dict[str, Any] = {
        "api_url": sandbox.url,
        "api_key": sandbox.credentials.primedata_api_key,
        "profile_ids": profile_ids(sandbox),
        "page_size": 7,
        "max_concurrency": 4,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.2,
    }
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


def run_tap(config: dict, state: dict | None = None, streams: tuple[str, ...] = ()) -> Output:
    """Run the tap in this process and parse its stdout."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    tap = TapPrimeData(config=config, state=state or {}, validate_config=True)
    if streams:
        for name, stream in tap.streams.items():
            stream.selected = name in streams
    with redirect_stdout(out), redirect_stderr(err):
        tap.sync_all()
    out.flush()
    text = out.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    return Output([json.loads(line) for line in text.splitlines() if line], err.getvalue())


def run_cli(
    config: dict, tmp_path: Path, state: dict | None = None, extra: Sequence[str] = ()
) -> Output:
    """Run `tap-primedata` in a subprocess (real CLI, real logging), with `extra` arguments."""
    config_path = tmp_path / "tap-config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_primedata", "--config", str(config_path)]
    if state is not None:
        state_path = tmp_path / "tap-state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    command += list(extra)
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"')]
    return Output(messages, done.stderr, done.returncode, done.stdout)


def normalized(event: dict) -> dict:
    """A workspace event as the tap should emit it."""
    return {
        **event,
        "time_stamp": to_rfc3339(event["time_stamp"]),
        "sent_at": to_rfc3339(event["sent_at"]),
    }


def expected_events(sandbox, count: int | None = None, **query: Any) -> dict[str, dict]:
    """Every event the tap should emit for the first `count` profiles, by id."""
    ws = workspace(sandbox)
    result: dict[str, dict] = {}
    for i in range(count if count is not None else ws.profiles):
        for event in ws.events_for(i, sort="asc", **query):
            result[event["id"]] = normalized(event)
    return result


def append_events(sandbox, profile_id: str, events: list[dict]) -> list[str]:
    """Add events to a profile through the sandbox's control endpoint."""
    response = requests.post(
        f"{sandbox.url}/_sandbox/primedata/events",
        json={"profile_id": profile_id, "events": events},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["ids"]


def by_profile(records: list[dict]) -> dict[str, list[dict]]:
    """Event records grouped by profile, in emitted order."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        grouped[record["profile_id"]].append(record)
    return grouped
