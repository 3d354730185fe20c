"""What the tap remembers of a lookup PrimeData refused (404, 400), one whose pages loop, or a
run that stopped.

The tap reads the sandbox through a gate: a loopback HTTP proxy that forwards every call, but
answers one profile with 404 `not_found`, 400 `validation_error` or a cursor repeating for
ever (from its first call, or after a number of its event pages), or answers everything with
503 after a number of calls.
What counts is what the next run sends, given the state this run left.
"""

from __future__ import annotations

import ast
import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from tap_helpers import (
    Output,
    append_events,
    expected_events,
    profile_ids,
    run_tap,
    tap_config,
    workspace,
)

from cdp_sandbox.config import SandboxConfig
from cdp_sandbox.config import Workspace as WorkspaceConfig
from tap_primedata.tap import TapPrimeData

EVENTS = "/pub/events/advanced-search"
REFUSALS = {
    200: {"data": [], "cursor": {"has_more": True, "next": "the-same-cursor"}},
    404: {"error": {"code": "not_found", "message": "no such profile"}},
    400: {"error": {"code": "validation_error", "message": "bad lookup"}},
}


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workspace=WorkspaceConfig(profiles=5, events_per_profile=15, seed=16))


@dataclass
class Rules:
    """What the gate refuses: `profile` with `status` once it had `pages` event pages (200:
    a page repeating one cursor for ever); every call with 503 once `calls` calls went through."""

    profile: str | None = None
    status: int = 404
    pages: int = 0
    calls: int | None = None
    mangle: bool = False  # forward `profile`'s first events page with a bad time and no id
    seen: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refusal(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        with self.lock:
            self.seen["calls"] += 1
            if self.calls is not None and self.seen["calls"] > self.calls:
                return 503, {"error": {"code": "server_error", "message": "down"}}
            if self.profile is None or body.get("profile_id") != self.profile or self.mangle:
                return None
            if path == EVENTS:
                self.seen[self.profile] += 1
                if self.seen[self.profile] <= self.pages:
                    return None
            elif self.pages:
                return None  # refused part way: its events only
            return self.status, REFUSALS[self.status]

    def mangled(self, asked: dict[str, Any], answer: bytes) -> bytes:
        """`profile`'s first page: its 2nd event's time unreadable, its 4th without an id."""
        if asked.get("profile_id") != self.profile:
            return answer
        page = json.loads(answer)
        page["data"][1]["time_stamp"] = "not a time"
        page["data"][3]["id"] = ""
        return json.dumps(page).encode()


class _Gate(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Gate

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        refused = self.server.rules.refusal(self.path, json.loads(data or b"{}"))
        if refused is None:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            answer = requests.post(self.server.upstream + self.path, data=data,
                                   headers=headers, timeout=30)  # fmt: skip
            status, body = answer.status_code, answer.content
            if self.server.rules.mangle and self.path == EVENTS and b"cursor" not in data:
                body = self.server.rules.mangled(json.loads(data), body)
        else:
            status, body = refused[0], json.dumps(refused[1]).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Gate(ThreadingHTTPServer):
    """The proxy in front of the sandbox."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Gate)
        self.upstream, self.rules = upstream, Rules()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def gate(sandbox: Any) -> Iterator[Gate]:
    server = Gate(sandbox.url)
    yield server
    server.shutdown()
    server.server_close()


def ids_of(output: Output, stream: str, upto: int | None = None) -> list[str]:
    """Ids (events) or profile ids (profiles) of the records, in order, before message `upto`."""
    key = "id" if stream == "events" else "profile_id"
    return [
        m["record"][key]
        for m in output.messages[:upto]
        if m["type"] == "RECORD" and m["stream"] == stream
    ]


def events_of(sandbox: Any, index: int) -> list[str]:
    return [e["id"] for e in workspace(sandbox).events_for(index, sort="asc")]


def summaries(caplog: pytest.LogCaptureFixture) -> dict[str, dict[str, int]]:
    """Each stream's summary line (`Stream NAME summary: {...}`) of the run, as a dict."""
    found = {}
    for record in caplog.records:
        stream, _, counts = record.getMessage().partition(" summary: ")
        if counts and stream.startswith("Stream "):
            found[stream.removeprefix("Stream ")] = ast.literal_eval(counts)
    caplog.clear()
    return found


def run_stopped(config: dict[str, Any], state: dict[str, Any] | None = None) -> Output:
    """Run the tap in this process, expecting it to stop with exit status 1."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    err = io.StringIO()
    tap = TapPrimeData(config=config, state=state or {}, validate_config=True)
    with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as stopped:
        tap.sync_all()
    out.flush()
    text = out.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    messages = [json.loads(line) for line in text.splitlines() if line]
    return Output(messages, err.getvalue(), int(stopped.value.code or 0))


@pytest.mark.parametrize("status", [404, 400])
def test_a_refused_lookup_is_read_whole_by_the_next_run(sandbox, gate, status, caplog):
    caplog.set_level("INFO")
    ids = profile_ids(sandbox)
    gate.rules = Rules(profile=ids[2], status=status)
    first = run_tap(tap_config(sandbox, api_url=gate.url))
    assert ids[2] not in ids_of(first, "profiles")
    assert not [r for r in first.records("events") if r["profile_id"] == ids[2]]
    assert len(first.events()) == 4 * 15
    skipped = "skipped_not_found" if status == 404 else "skipped_validation_error"
    assert summaries(caplog) == {
        "events": {"lookups_done": 5, "lookups_read": 4, "records": 60, skipped: 1},
        "profiles": {"lookups_done": 5, "records": 4, skipped: 1},
    }

    second = run_tap(tap_config(sandbox), state=first.final_state)
    assert ids_of(second, "profiles") == [ids[2]]
    assert ids_of(second, "events") == events_of(sandbox, 2)
    assert summaries(caplog) == {
        "events": {"lookups_done": 5, "lookups_read": 5, "records": 15},
        "profiles": {"lookups_done": 5, "records": 1, "profiles_unchanged": 4},
    }
    third = run_tap(tap_config(sandbox), state=second.final_state)
    assert not third.records("events") and not third.records("profiles")


def test_a_lookup_refused_part_way_is_resumed_after_what_it_emitted(sandbox, gate):
    ids = profile_ids(sandbox)
    gate.rules = Rules(profile=ids[1], pages=2)  # 2 pages of 4 events, then 404
    config = tap_config(sandbox, page_size=4, state_interval_records=3)
    first = run_tap({**config, "api_url": gate.url}, streams=("events",))
    history = events_of(sandbox, 1)
    assert [r["id"] for r in first.records("events") if r["profile_id"] == ids[1]] == history[:8]
    assert len(first.events()) == 4 * 15 + 8

    second = run_tap(config, state=first.final_state, streams=("events",))
    assert ids_of(second, "events") == history[8:]


def test_resuming_from_any_state_sends_each_profile_and_event_exactly_once(sandbox):
    config = tap_config(sandbox, page_size=4, state_interval_records=3, max_concurrency=2)
    full = run_tap(config)
    everything = {"events": set(expected_events(sandbox)), "profiles": set(profile_ids(sandbox))}
    cuts = [i for i, m in enumerate(full.messages) if m["type"] == "STATE"]
    assert len(cuts) > 10
    for cut in cuts:
        resumed = run_tap(config, state=full.messages[cut]["value"])
        for stream, wanted in everything.items():
            before, after = ids_of(full, stream, cut), ids_of(resumed, stream)
            assert len(set(after)) == len(after), f"{stream} sent twice resuming at {cut}"
            assert not set(before) & set(after), f"{stream} re-sent resuming at {cut}"
            assert set(before) | set(after) == wanted, f"{stream} lost resuming at {cut}"


def test_a_stopped_run_leaves_a_state_the_next_run_resumes_from(sandbox, gate, caplog):
    config = tap_config(sandbox, page_size=4, state_interval_records=3, max_concurrency=1)
    gate.rules = Rules(calls=12)
    stopped = run_stopped({**config, "api_url": gate.url, "max_tries": 2})
    assert stopped.returncode == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "the run stopped" in errors[0]
    last = max(i for i, m in enumerate(stopped.messages) if m["type"] == "STATE")
    resumed = run_tap(config, state=stopped.messages[last]["value"])
    for stream, wanted in (
        ("events", set(expected_events(sandbox))),
        ("profiles", set(profile_ids(sandbox))),
    ):
        before, after = set(ids_of(stopped, stream, last)), ids_of(resumed, stream)
        assert len(set(after)) == len(after)
        assert not before & set(after) and before | set(after) == wanted
    assert ids_of(stopped, "events", last), "the stop came before any STATE"


def test_lookups_with_nothing_before_the_run_end_are_not_asked_for(sandbox, gate, caplog):
    caplog.set_level("INFO")
    moment = "2024-06-01T00:00:00Z"
    config = tap_config(sandbox, api_url=gate.url, start_date=moment, end_date=moment)
    out = run_tap(config, streams=("events",))
    assert not out.records("events") and gate.rules.seen["calls"] == 0
    assert summaries(caplog) == {"events": {"lookups_done": 5, "lookups_up_to_date": 5}}


def test_a_lookup_whose_cursor_repeats_is_skipped_the_run_fails_the_next_resumes(
    sandbox, gate, caplog
):
    ids, history = profile_ids(sandbox), events_of(sandbox, 3)
    gate.rules = Rules(profile=ids[3], status=200, pages=1)
    config = tap_config(sandbox, page_size=4)
    first = run_stopped({**config, "api_url": gate.url})
    assert first.returncode == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "repeated a pagination cursor" in errors[0], errors
    assert "will exit non-zero" in errors[0]
    assert [r["id"] for r in first.records("events") if r["profile_id"] == ids[3]] == history[:4]
    assert len(first.events()) == 4 * 15 + 4 and len(first.records("profiles")) == 5

    second = run_tap(config, state=first.final_state)
    assert ids_of(second, "events") == history[4:] and not second.records("profiles")


def test_events_without_a_time_or_an_id_are_skipped_and_the_rest_read(sandbox, gate, caplog):
    caplog.set_level("INFO")
    ids, history = profile_ids(sandbox), events_of(sandbox, 0)
    gate.rules = Rules(profile=ids[0], mangle=True)
    out = run_tap(tap_config(sandbox, api_url=gate.url, page_size=5), streams=("events",))
    wanted = [e for i, e in enumerate(history) if i not in (1, 3)]
    assert [r["id"] for r in out.records("events") if r["profile_id"] == ids[0]] == wanted
    assert len(out.events()) == 5 * 15 - 2
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"Event {history[1]} skipped: time_stamp 'not a time'"]
    assert summaries(caplog)["events"]["events_bad_time_stamp"] == 1


def test_a_lookup_listed_twice_is_read_once_and_the_rest_all_read(sandbox, caplog):
    caplog.set_level("INFO")
    ids = profile_ids(sandbox)
    listed = [ids[0], ids[1], ids[0], ids[2], ids[1], ids[3], ids[4]]
    out = run_tap(tap_config(sandbox, profile_ids=listed))
    assert set(out.events()) == set(expected_events(sandbox))
    assert sorted(ids_of(out, "profiles")) == sorted(ids)
    counts = summaries(caplog)
    assert counts["events"]["duplicate_lookups"] == counts["profiles"]["duplicate_lookups"] == 2


def test_an_event_past_the_run_end_in_naive_timezone_waits_for_the_next_run(sandbox):
    """PrimeData filters `end` on its own reading of a zoneless time; the tap reads it in
    `naive_timezone` and keeps only what is before the run's end, the rest is next run's."""
    ids, end = profile_ids(sandbox, 1), "2026-01-01T00:00:00Z"
    at_end, late = append_events(sandbox, ids[0], [
        {"event_name": "PageView", "time_stamp": "2025-12-31T19:00:00"},  # the end at -05:00
        {"event_name": "PageView", "time_stamp": "2025-12-31T22:00:00"},  # 03:00Z at -05:00
    ])  # fmt: skip
    config = tap_config(sandbox, profile_ids=ids, naive_timezone="-05:00")
    first = run_tap({**config, "end_date": end}, streams=("events",))
    assert first.events() and not {at_end, late} & set(first.events())
    second = run_tap(config, state=first.final_state, streams=("events",))
    assert list(second.events()) == [at_end, late]
    assert second.events()[at_end]["time_stamp"] == end
