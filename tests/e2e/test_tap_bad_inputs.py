"""Bad inputs and misbehaving servers for `tap-primedata`, end to end through its executable.

Each case asserts the exit status, the single error line (naming the setting or the lookup),
that no `Traceback` is printed and that the API key appears in no output in its raw,
URL-encoded or base64 form.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from bad_input_helpers import assert_no_secret, assert_one_error, run
from misbehaving import Misbehaving, closed_port

TAP_KEY = "pd-Key/with+plus=and@at-7Qx"  # every character that encodes differently
BINARY_FILE = "<a lookup file that is not UTF-8>"


# the tap -----------------------------------------------------------------------------------
@dataclass
class TapCase:
    id: str
    mode: str | None  # the misbehaving server's mode; "refused": nothing listens
    settings: dict[str, Any]
    status: int
    needles: tuple[str, ...]
    also: Callable[[subprocess.CompletedProcess, Misbehaving | None], None] | None = None
    emits: bool = False  # records before the failure are fine (the profile of a cursor loop)


def _retried_without_delay(done: subprocess.CompletedProcess, _: Any) -> None:
    assert "Retrying" in done.stderr and "in 0.00s" in done.stderr  # retry_base_delay 0 holds


def _retried(done: subprocess.CompletedProcess, _: Any) -> None:
    assert "Retrying" in done.stderr


TAP_CASES = [
    TapCase("key-of-wrong-type", None, {"api_key": {"v": TAP_KEY}}, 2,
            ("Configuration error", "`api_key`")),
    TapCase("start-date-not-a-date", None, {"start_date": "yesterday"}, 2, ("`start_date`",)),
    TapCase("unknown-naive-timezone", None, {"naive_timezone": "Mars/Olympus_Mons"}, 2,
            ("`naive_timezone`",)),
    TapCase("missing-profiles-file", None,
            {"profile_ids": None, "profiles_file": "/nonexistent/lookups.jsonl"}, 2,
            ("`profiles_file`",)),
    TapCase("zero-request-timeout", None, {"request_timeout": 0}, 2, ("`request_timeout`",)),
    TapCase("huge-max-concurrency", None, {"max_concurrency": 100000}, 2,
            ("`max_concurrency`",)),
    TapCase("profiles-file-not-utf8", "server_error",
            {"profile_ids": None, "profiles_file": BINARY_FILE}, 1,
            ("`profiles_file`", "UnicodeDecodeError", "run stopped")),
    TapCase("identities-as-json-string", "server_error",
            {"profile_ids": None, "identities": '{"email": ["a@b.c"]}'}, 1,
            ("identity email=a@b.c", "HTTP 503", "run stopped")),
    TapCase("connection-refused", "refused", {}, 1,
            ("profile_id P1", "connection refused", "after 2 tries", "run stopped")),
    TapCase("connection-reset", "reset", {}, 1,
            ("profile_id P1", "connection reset", "run stopped")),
    TapCase("timeout", "hang", {"request_timeout": 0.3}, 1,
            ("profile_id P1", "timed out", "run stopped")),
    TapCase("server-error", "server_error", {}, 1,
            ("profile_id P1", "HTTP 503", "run stopped"), _retried_without_delay),
    TapCase("http-200-not-json", "not_json", {}, 1,
            ("profile_id P1", "not JSON", "run stopped"), _retried),
    TapCase("cursor-repeats-forever", "cursor_loop", {}, 1,
            ("profile_id P1", "repeated a pagination cursor", "run goes on"), emits=True),
    TapCase("redirect-to-another-host", "redirect", {}, 1, ("`api_url`", "307")),
]  # fmt: skip


@pytest.mark.parametrize("case", TAP_CASES, ids=[c.id for c in TAP_CASES])
def test_tap_bad_input(case: TapCase, tmp_path: Path) -> None:
    elsewhere = Misbehaving("server_error")  # a redirect's target: must never be reached
    server = Misbehaving(case.mode, elsewhere.url) if case.mode not in (None, "refused") else None
    url = server.url if server else f"http://127.0.0.1:{closed_port()}"
    config = {
        "api_url": url,
        "api_key": TAP_KEY,
        "profile_ids": ["P1"],
        "max_tries": 2,
        "retry_base_delay": 0,
        "retry_max_delay": 0,
        "request_timeout": 2,
        **case.settings,
    }
    config = {k: v for k, v in config.items() if v is not None}
    if config.get("profiles_file") == BINARY_FILE:
        config["profiles_file"] = str(tmp_path / "lookups.jsonl")
        Path(config["profiles_file"]).write_bytes(b'{"profile_id": "\xff\xfe"}\n')
    try:
        done = run("tap-primedata", config, tmp_path)
    finally:
        for s in (server, elsewhere):
            if s is not None:
                s.close()
    assert_one_error(done, case.status, *case.needles)
    if not case.emits:
        assert '"type":"RECORD"' not in done.stdout.replace(" ", "")
    assert_no_secret([TAP_KEY], done.stdout, done.stderr)
    assert not elsewhere.requests, "a redirect was followed"
    if case.also:
        case.also(done, server)
