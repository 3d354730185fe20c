"""Bad inputs and misbehaving servers for `target-cdp`, end to end through the real executables.

Each case asserts the exit status, the single error line (naming the setting or the input
line), that no `Traceback` is printed, that no secret appears in any output in its raw,
URL-encoded or base64 form, and what the destinations received (`/_sandbox/received`).
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import resource
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bad_input_helpers import assert_no_secret, assert_one_error, error_lines, run
from e2e_helpers import all_lookups, expected, secret_values
from misbehaving import Misbehaving

from cdp_demo import configs
from cdp_demo.pipeline import Pipeline
from cdp_sandbox.config import SandboxConfig, Workspace


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=4, events_per_profile=5, seed=5))


# the target ------------------------------------------------------------------------------
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
            "time_stamp": {"type": ["string", "null"], "format": "date-time"},
            "properties": {"type": "object"},
        },
    },
}


def event(n: int, **changes: Any) -> dict:
    record = {
        "id": f"Bad.Input.{n}",
        "profile_id": f"profile-{n}",
        "event_name": "PageView",
        "time_stamp": f"2024-05-0{n}T10:00:00Z",
        "properties": {"page_url": "/"},
        **changes,
    }
    return {"type": "RECORD", "stream": "events", "record": record}


def state(n: int) -> dict:
    return {"type": "STATE", "value": {"bookmarks": {"events": {"n": n}}}}


def lines(*messages: dict | str) -> str:
    return "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)


DEEP = (
    '{"type": "RECORD", "stream": "events", "record": {"id": "deep", "properties": {"x": '
    + ("[" * 1500 + "]" * 1500)
    + "}}}"
)
GOOD = lines(SCHEMA, event(1), event(2), state(2))


def _events_route(cfg: dict) -> dict:
    routes = [r for r in cfg["mappings"] if r["stream"] == "events"]
    return next(r for r in routes if r["destination"] == "dmartech")


def _under_a_file(setting: str, **more: Any) -> Callable[[dict, Path], None]:
    """Point `setting` at a path below a regular file: it can be neither created nor written."""

    def change(cfg: dict, tmp_path: Path) -> None:
        (tmp_path / "a-file").write_text("")
        cfg.update({setting: str(tmp_path / "a-file" / "out.jsonl"), **more})

    return change


@dataclass
class TargetCase:
    id: str
    change: Callable[[dict, Path], None]
    stdin: str
    status: int
    needles: tuple[str, ...]
    delivered: set[str]  # event ids Dmartech must hold afterwards
    states: int | None = None  # STATE messages the target must have written
    summary: bool = True  # the summary line is printed (no summary on a config error)
    extra: dict[str, Any] = field(default_factory=dict)


TARGET_CASES = [
    TargetCase("object-setting-as-json-string",
               lambda c, _: c.update(dmartech=json.dumps(c["dmartech"])),
               GOOD, 0, (), {"Bad.Input.1", "Bad.Input.2"}, 1),
    TargetCase("object-setting-not-json", lambda c, _: c.update(dmartech="{api_url: x"),
               GOOD, 2, ("Configuration error", "`dmartech`", "not JSON"), set(), summary=False),
    TargetCase("zero-request-timeout", lambda c, _: c.update(request_timeout=0),
               GOOD, 2, ("`request_timeout`",), set(), summary=False),
    TargetCase("huge-max-concurrency", lambda c, _: c.update(max_concurrency=100000),
               GOOD, 2, ("`max_concurrency`",), set(), summary=False),
    TargetCase("unknown-route-key",
               lambda c, _: _events_route(c).update(event_name_propery="event_name"),
               GOOD, 2, ("events -> dmartech:event", "'event_name_propery'"), set(),
               summary=False),
    TargetCase("json-nested-1500-deep", lambda c, _: None,
               lines(SCHEMA, event(1), state(1), DEEP, event(3)), 1, ("line 4", "nested"),
               {"Bad.Input.1"}, 1),
    TargetCase("record-not-an-object", lambda c, _: None,
               lines(SCHEMA, event(1), state(1), {"type": "RECORD", "stream": "events",
                                                  "record": ["id", "x"]}, event(3)),
               1, ("line 4", "a record must be a JSON object, not list"), {"Bad.Input.1"}, 1),
    TargetCase("schema-properties-not-an-object", lambda c, _: None,
               lines(SCHEMA, event(1), state(1), {**SCHEMA, "schema": {"properties": "x"}},
                     event(3)),
               1, ("line 4", "invalid JSON schema", "`properties` must be an object"),
               {"Bad.Input.1"}, 1),
    TargetCase("schema-pattern-not-a-regex", lambda c, _: None,
               lines(SCHEMA, event(1), state(1),
                     {**SCHEMA, "schema": {"type": "object", "properties": {"id": {
                         "type": "string", "pattern": "("}}}}, event(3)),
               1, ("line 4", "invalid JSON schema", "unterminated subpattern"), {"Bad.Input.1"},
               1),
    TargetCase("state-value-not-an-object", lambda c, _: None,
               lines(SCHEMA, event(1), state(1), {"type": "STATE", "value": "x"}, event(3)),
               1, ("line 4", "STATE"), {"Bad.Input.1"}, 1),
    TargetCase("dead-letter-disk-full", lambda c, _: c.update(dead_letter_path="/dev/full"),
               lines(SCHEMA, event(1), event(2, time_stamp=None), event(3)), 1,
               ("`dead_letter_path`", "/dev/full", "No space left"), set()),
    TargetCase("dead-letter-path-not-writable", _under_a_file("dead_letter_path"),
               lines(SCHEMA, event(1), event(2, time_stamp=None), event(3)), 1,
               ("`dead_letter_path`", "a-file"), set()),
    TargetCase("dry-run-path-not-writable", _under_a_file("dry_run_path", dry_run=True),
               GOOD, 2, ("`dry_run_path`", "a-file"), set(), summary=False),
    TargetCase("summary-path-not-writable", _under_a_file("summary_path"),
               GOOD, 1, ("`summary_path`", "a-file"), {"Bad.Input.1", "Bad.Input.2"}, 1),
]  # fmt: skip


def _target_config(sandbox: Any, tmp_path: Path) -> dict:
    cfg = copy.deepcopy(configs.target_config(sandbox.url, sandbox.credentials, tmp_path))
    cfg["mappings"] = [r for r in cfg["mappings"] if r["stream"] == "events"]
    cfg["max_retry_wait"] = 0.1
    return cfg


def _dmartech_event_ids(sandbox: Any) -> set[str]:
    events = sandbox.received().get("dmartech", {}).get("events", [])
    return {str(e.get("event_id")) for e in events}


@pytest.mark.parametrize("case", TARGET_CASES, ids=[c.id for c in TARGET_CASES])
def test_target_bad_input(case: TargetCase, sandbox: Any, tmp_path: Path) -> None:
    cfg = _target_config(sandbox, tmp_path)
    case.change(cfg, tmp_path)
    done = run("target-cdp", cfg, tmp_path, case.stdin)
    if case.status == 0:
        assert done.returncode == 0 and not error_lines(done.stderr), done.stderr[-3000:]
        assert "Traceback" not in done.stderr
    else:
        assert_one_error(done, case.status, *case.needles)
    assert ("| Summary" in done.stderr) is case.summary, done.stderr[-2000:]
    assert _dmartech_event_ids(sandbox) == case.delivered
    if case.states is not None:
        written = [json.loads(x) for x in done.stdout.splitlines() if x.strip()]
        assert len(written) == case.states, done.stdout
    dead = tmp_path / "rejected.jsonl"
    outputs = [done.stdout, done.stderr, dead.read_text() if dead.exists() else ""]
    assert_no_secret(secret_values(sandbox), *outputs)
    for text in outputs[2:]:  # whole lines only
        assert not text or text.endswith("\n")


def _file_size_limit(limit: int) -> Callable[[], None]:
    """For a child process: files may grow to `limit` bytes, then writes fail (EFBIG)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, do not kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_dead_letter_file_filling_up_keeps_whole_lines(sandbox: Any, tmp_path: Path):
    cfg = {**_target_config(sandbox, tmp_path), "ledger_uri": "none"}  # the limit is for
    # the dead-letter file; a ledger file would hit it first
    bad = [event(n, time_stamp=None) for n in range(1, 8)]  # each refused by both routes
    stdin = lines(SCHEMA, *bad, state(7))
    done = run("target-cdp", cfg, tmp_path, stdin, preexec=_file_size_limit(1500))
    assert_one_error(done, 1, "`dead_letter_path`", "rejected.jsonl")
    assert "| Summary [stopped]" in done.stderr
    assert not done.stdout.strip(), "a STATE passed records neither delivered nor dead-lettered"
    text = (tmp_path / "rejected.jsonl").read_text()
    assert text.endswith("\n") and len(text.encode()) <= 1500
    written = [json.loads(line) for line in text.splitlines()]  # whole lines only
    assert written and all(w["error"]["code"] == "missing_create_time" or w["error"]["code"]
                           == "missing_time" for w in written)  # fmt: skip
    assert_no_secret(secret_values(sandbox), text, done.stderr)


# secrets whatever handler writes them ----------------------------------------------------
def _log_config(tmp_path: Path, log: Path) -> Path:
    """A logging config giving `urllib3` its own DEBUG file handler (no propagation)."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"wire": {"class": "logging.FileHandler", "filename": str(log)}},
        "loggers": {"urllib3": {"level": "DEBUG", "handlers": ["wire"], "propagate": False}},
    }
    path = tmp_path / "logging.yml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def test_urllib3_with_its_own_handler_never_writes_a_secret(sandbox: Any, tmp_path: Path):
    wire = tmp_path / "wire.log"
    env = {"SINGER_SDK_LOG_CONFIG": str(_log_config(tmp_path, wire))}
    done = run("target-cdp", _target_config(sandbox, tmp_path), tmp_path, GOOD, **env)
    assert done.returncode == 0, done.stderr[-3000:]
    text = wire.read_text()
    assert "/api/v1/api/import?secret=[REDACTED]" in text  # the handler did log the URL
    assert_no_secret(secret_values(sandbox), text, done.stderr, done.stdout)
    assert _dmartech_event_ids(sandbox) == {"Bad.Input.1", "Bad.Input.2"}

    tap_wire = tmp_path / "tap-wire.log"
    env = {"SINGER_SDK_LOG_CONFIG": str(_log_config(tmp_path, tap_wire))}
    tap_cfg = configs.tap_config(sandbox.url, sandbox.credentials, **all_lookups(sandbox, 2))
    tapped = run("tap-primedata", tap_cfg, tmp_path, **env)
    assert tapped.returncode == 0, tapped.stderr[-3000:]
    assert "/pub/events/advanced-search" in tap_wire.read_text()
    assert_no_secret(secret_values(sandbox), tap_wire.read_text(), tapped.stderr)


def test_nxcloud_signature_echoed_by_an_answer_is_masked(sandbox: Any, tmp_path: Path):
    echo = Misbehaving("echo_headers")
    cfg = _target_config(sandbox, tmp_path)
    cfg["nxcloud"]["base_url"] = echo.url
    names = {"first_name": "event_name", "last_name": "profile_id"}
    cfg["mappings"] = [
        {"stream": "events", "destination": "nxcloud", "type": "customer", "fields": names}
    ]
    try:
        done = run("target-cdp", cfg, tmp_path, GOOD)
    finally:
        echo.close()
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    dead = (tmp_path / "rejected.jsonl").read_text()
    assert "1001" in dead and "[REDACTED]" in dead
    signs = [headers["sign"] for _, headers, _ in echo.requests]
    assert signs and "ts=" in dead
    assert_no_secret([*signs, *secret_values(sandbox)], dead, done.stderr, done.stdout)


def test_engagelab_code_0_with_failed_items_is_one_warning(sandbox: Any, tmp_path: Path):
    lab = Misbehaving("engagelab_partial")
    cfg = _target_config(sandbox, tmp_path)
    cfg["engagelab"]["base_url"] = lab.url
    cfg["mappings"] = [r for r in cfg["mappings"] if r["destination"] == "engagelab"]
    try:
        done = run("target-cdp", cfg, tmp_path, GOOD)
    finally:
        lab.close()
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    warnings = [x for x in done.stderr.splitlines() if "carries more than success" in x]
    reports = [p for p, _, _ in lab.requests if p.startswith("/v1/event/report")]
    assert reports and len(warnings) == len(reports), done.stderr[-3000:]  # one per answer
    assert all("partial success" in w and '"failed"' in w for w in warnings)
    assert {"Bad.Input.1", "Bad.Input.2"} <= {
        i for w in warnings for i in re.findall(r"Bad\.Input\.\d", w)
    }
    assert_no_secret(secret_values(sandbox), done.stderr, done.stdout)


# every Singer message ----------------------------------------------------------------------
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_batch_messages_from_tap_primedata_are_delivered(
    sandbox: Any, tmp_path: Path, compression: str
):
    batches = tmp_path / "batches"
    batches.mkdir()
    tap_cfg = configs.tap_config(sandbox.url, sandbox.credentials, **all_lookups(sandbox, 4))
    tap_cfg["batch_config"] = {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": f"file://{batches}"},
    }
    target_cfg = configs.target_config(sandbox.url, sandbox.credentials, tmp_path)
    result = Pipeline(tap_cfg, target_cfg, tmp_path).wait(180)
    log = result.target_log.read_text()
    assert result.tap_code == 0 and result.target_code == 0, log[-3000:]
    assert "2 batch manifests" in log and "0 records" in log  # BATCH, not RECORD, messages
    files = list(batches.iterdir())
    assert len(files) == 2  # the SDK's batcher gzips whatever `compression` says
    with gzip.open(files[0]) as first:
        assert json.loads(first.readline())
    want = expected(sandbox, 4)
    assert _dmartech_event_ids(sandbox) == want.event_ids
    users = {u.get("user_id") for u in sandbox.received()["dmartech"]["users"]}
    assert want.profile_ids <= users
    assert result.last_state is not None


def test_batch_file_that_cannot_be_read_names_the_line(sandbox: Any, tmp_path: Path):
    batch = {"type": "BATCH", "stream": "events", "encoding": {"format": "jsonl"},
             "manifest": [f"file://{tmp_path}/missing.jsonl"]}  # fmt: skip
    done = run("target-cdp", _target_config(sandbox, tmp_path), tmp_path,
               lines(SCHEMA, event(1), state(1), batch))  # fmt: skip
    assert_one_error(done, 1, "line 4", "missing.jsonl")
    assert _dmartech_event_ids(sandbox) == {"Bad.Input.1"}
