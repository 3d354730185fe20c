"""Malformed Singer input on target-cdp's stdin: one clear line naming the line or record, no
traceback wall, and what was received before it is not lost."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cdp_demo import configs
from cdp_demo.pipeline import executable

SCHEMA = {
    "type": "SCHEMA",
    "stream": "events",
    "key_properties": ["id"],
    "schema": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "profile_id": {"type": "string"},
            "event_name": {"type": "string"},
            "time_stamp": {"type": "string", "format": "date-time"},
            "properties": {"type": "object"},
        },
    },
}


def _event(n: int) -> dict:
    record = {
        "id": f"Malformed.Test.{n}",
        "profile_id": f"profile-{n}",
        "event_name": "PageView",
        "time_stamp": f"2024-05-0{n}T10:00:00Z",
        "properties": {"page_url": "/"},
    }
    return {"type": "RECORD", "stream": "events", "record": record}


def _lines(*messages: dict | str) -> str:
    return "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)


def _target(sandbox, tmp_path: Path, stdin: str) -> subprocess.CompletedProcess:
    config = configs.target_config(sandbox.url, sandbox.credentials, tmp_path)
    config["mappings"] = [r for r in config["mappings"] if r["stream"] == "events"]
    path = tmp_path / "target.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [executable("target-cdp"), "--config", str(path)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _delivered_ids(sandbox) -> set[str]:
    events = sandbox.received().get("dmartech", {}).get("events", [])
    return {str(e.get("event_id")) for e in events}


def _assert_clear_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [ln for ln in done.stderr.splitlines() if any(n in ln for n in needles)]
    assert errors, f"no line names {needles}:\n{done.stderr[-3000:]}"
    return errors[-1]


STATE = {"type": "STATE", "value": {"bookmarks": {"events": {"replication_key_value": "x"}}}}


def test_bad_json_names_the_line_and_keeps_what_came_before(sandbox, tmp_path):
    torn = '{"type": "RECORD", "stream": "ev'
    stdin = _lines(SCHEMA, _event(1), _event(2), STATE, torn, _event(3))
    done = _target(sandbox, tmp_path, stdin)
    _assert_clear_error(done, "line 5")
    assert {"Malformed.Test.1", "Malformed.Test.2"} <= _delivered_ids(sandbox)
    assert "Malformed.Test.3" not in _delivered_ids(sandbox)


def test_record_before_schema_names_the_stream(sandbox, tmp_path):
    stdin = _lines(SCHEMA, _event(1), {**_event(2), "stream": "orders"})
    done = _target(sandbox, tmp_path, stdin)
    _assert_clear_error(done, "orders")
    assert "Malformed.Test.1" in _delivered_ids(sandbox)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"time_stamp": 12}, id="number-for-date-time"),
        pytest.param({"properties": "not an object"}, id="string-for-object"),
    ],
)
def test_wrong_types_are_named_and_nothing_else_is_lost(sandbox, tmp_path, bad):
    wrong = _event(2)
    wrong["record"] = {**wrong["record"], **bad}
    done = _target(sandbox, tmp_path, _lines(SCHEMA, _event(1), wrong, _event(3)))
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    delivered = _delivered_ids(sandbox)
    assert {"Malformed.Test.1"} <= delivered
    dead = tmp_path / "rejected.jsonl"
    dead_letters = dead.read_text() if dead.exists() else ""
    named = "Malformed.Test.2" in dead_letters or any(
        "Malformed.Test.2" in ln or "line 3" in ln for ln in done.stderr.splitlines()
    )
    assert named, f"the bad record is named nowhere:\n{done.stderr[-3000:]}"
    if "Malformed.Test.2" in dead_letters:  # dead-lettered: the run went on past it
        assert "Malformed.Test.3" in delivered
        assert done.returncode != 0, "a dead-lettered record must make the exit non-zero"
