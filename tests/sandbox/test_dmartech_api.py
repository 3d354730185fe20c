"""The Dmartech emulator over real HTTP: storage, dedup and every errcode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from cdp_sandbox.config import SandboxConfig, Workspace
from cdp_sandbox.server import start_in_thread

PATH = "/api/v1/api/import"


def small(**overrides: Any) -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=1, events_per_profile=1), **overrides)


class Box:
    """A sandbox started by this module (one server shared by many refusal cases)."""

    def __init__(self, url: str, config: SandboxConfig) -> None:
        self.url = url
        self.credentials = config.credentials

    def received(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/_sandbox/received", timeout=10).json()["received"]


@contextmanager
def serve(config: SandboxConfig) -> Iterator[Box]:
    server = start_in_thread(config)
    try:
        yield Box(server.url, config)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return small(dmartech_max_batch=5)


@pytest.fixture(scope="module")
def shared() -> Iterator[Box]:
    with serve(small(dmartech_max_batch=5)) as box:
        yield box


def post(sandbox: Any, body: Any, secret: str | None = "", raw: bytes | None = None) -> Any:
    params = {} if secret is None else {"secret": secret or sandbox.credentials.dmartech_secret}
    url = f"{sandbox.url}{PATH}"
    if raw is not None:
        return requests.post(url, params=params, data=raw, timeout=10)
    return requests.post(url, params=params, json=body, timeout=10)


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "mobile": f"1836666{n:04d}",
        "event_id": f"ev-{n}",
        "create_time": "2018-07-12 16:42:33",
        "amount": n,
        **extra,
    }


def test_users_and_deletes_are_stored_in_order(sandbox: Any) -> None:
    one = {"mobile": "18366668888", "email": "zhangsan@qdum.com", "name": "zhangsan"}
    batch = [{"email": f"u{i}@x.com", "name": f"u{i}"} for i in range(3)]
    for body in (
        {"type": "user", "properties": one},
        {"type": "user_batch", "properties": batch},
        {"type": "user_delete", "properties": {"mobile": "18366668888"}},
    ):
        answer = post(sandbox, body)
        assert answer.status_code == 200
        assert answer.json() == {"errcode": 0, "errmsg": "success"}
    got = sandbox.received()["dmartech"]
    assert got["users"] == [one, *batch]
    assert got["user_deletes"] == [{"mobile": "18366668888"}]
    assert got["counts"]["users"] == 4
    assert got["counts"]["user_deletes"] == 1
    assert sandbox.calls()["dmartech:import"] == 3


def test_events_are_stored_once_per_event_id(sandbox: Any) -> None:
    assert post(sandbox, {"type": "event", "event": "order", "properties": event(1)}).ok
    batch = {"type": "event_batch", "event": "visit", "properties": [event(2), event(1), event(3)]}
    answer = post(sandbox, batch)
    assert answer.json()["errcode"] == 0
    got = sandbox.received()["dmartech"]
    assert got["events"] == [
        {"event": "order", **event(1)},
        {"event": "visit", **event(2)},
        {"event": "visit", **event(3)},
    ]
    assert got["counts"]["events"] == 3
    assert got["counts"]["duplicate_events"] == 1


def test_reset_forgets_everything(sandbox: Any) -> None:
    post(sandbox, {"type": "event", "event": "order", "properties": event(1)})
    sandbox.reset()
    post(sandbox, {"type": "event", "event": "order", "properties": event(1)})
    got = sandbox.received()["dmartech"]
    assert got["counts"] == {"users": 0, "user_deletes": 0, "events": 1, "duplicate_events": 0}


USER = {"mobile": "18366668888"}
BAD_TIMES = ["2018-07-12T16:42:33Z", "2018-07-12 16:42", "2018-13-12 16:42:33", 1531385553]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"type": "contact", "properties": USER}, 10002, "type"),
        ({"properties": USER}, 10002, "type"),
        ({"type": "user"}, 10004, ""),
        ({"type": "user", "properties": {}}, 10004, ""),
        ({"type": "user_batch", "properties": []}, 10004, ""),
        ({"type": "user_batch", "properties": [USER, {}]}, 10004, "properties[1]"),
        ({"type": "user", "properties": {"name": "x"}}, 20001, "mobile"),
        ({"type": "user", "properties": {"mobile": "", "email": None}}, 20002, "mobile"),
        ({"type": "user", "properties": [USER]}, 20003, "object"),
        ({"type": "user_batch", "properties": USER}, 20003, "array"),
        ({"type": "user_batch", "properties": [USER] * 6}, 20003, "6 items"),
        ({"type": "user_batch", "properties": [USER, USER, {"x": 1}]}, 20001, "properties[2]"),
        ({"type": "event", "properties": event(1)}, 20003, "event"),
        ({"type": "event", "event": "o", "properties": USER}, 20003, "event_id"),
        ({"type": "event", "event": "o", "properties": event(1, event_id="")}, 20003, "event_id"),
        (
            {"type": "event", "event": "o", "properties": {**USER, "event_id": "1"}},
            20003,
            "create_time",
        ),
        *[
            ({"type": "event", "event": "o", "properties": event(1, create_time=t)}, 20003, "time")
            for t in BAD_TIMES
        ],
        (
            {"type": "event_batch", "event": "o", "properties": [event(1), event(2, mobile="")]},
            20002,
            "properties[1]",
        ),
        (
            {
                "type": "event_batch",
                "event": "o",
                "properties": [event(1), event(2), event(3, create_time="yesterday")],
            },
            20003,
            "properties[2].create_time",
        ),
    ],
)
def test_refused_bodies(shared: Box, body: dict[str, Any], code: int, words: str) -> None:
    answer = post(shared, body)
    assert answer.status_code == 404  # the vendor doc shows errors with HTTP 404
    assert answer.json()["errcode"] == code
    assert words in answer.json()["errmsg"]
    got = shared.received()["dmartech"]
    assert got["users"] == got["events"] == got["user_deletes"] == []


def test_secret_and_json_errors(shared: Box) -> None:
    sandbox = shared
    body = {"type": "user", "properties": USER}
    missing = post(sandbox, body, secret=None)
    assert (missing.status_code, missing.json()["errcode"]) == (404, 10003)
    wrong = post(sandbox, body, secret="not-the-secret")
    assert (wrong.status_code, wrong.json()["errcode"]) == (404, 20000)
    assert sandbox.credentials.dmartech_secret not in wrong.text
    for raw in (b"{not json", b"", b"[1, 2]", b"\xff\xfe"):
        answer = post(sandbox, None, raw=raw)
        assert answer.json()["errcode"] == 10001, raw
    assert sandbox.received()["dmartech"]["counts"]["users"] == 0


def test_configured_primary_keys() -> None:
    with serve(small(dmartech_primary_keys=("phone",))) as box:
        assert post(box, {"type": "user", "properties": {"phone": "1"}}).json()["errcode"] == 0
        assert post(box, {"type": "user", "properties": {"mobile": "1"}}).json()["errcode"] == 20001


def test_store_bodies_off_keeps_counts_only() -> None:
    with serve(small(store_bodies=False)) as box:
        post(box, {"type": "user_batch", "properties": [USER, USER]})
        post(box, {"type": "event_batch", "event": "o", "properties": [event(1), event(1)]})
        got = box.received()
    assert got["dmartech"] == {
        "counts": {"users": 2, "user_deletes": 0, "events": 1, "duplicate_events": 1}
    }
