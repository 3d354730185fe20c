"""The NXCloud emulator over real HTTP: signature, clock window, tenant, customer limits."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from cdp_sandbox.config import Credentials, SandboxConfig, Workspace
from cdp_sandbox.nxcloud import sign, verify
from cdp_sandbox.server import start_in_thread

PATH = "/saas/sea/cdp/openapi/customers/batch_create"
OLD_PATH = "/saas/cdp/openapi/customers/batch_create"
VECTOR_HEADERS = {
    "accessKey": "fme2na3kdi3ki",
    "ts": "1655710885431",
    "bizType": "1",
    "action": "send",
}
VECTOR_SECRET = "abciiiko2k3"
VECTORS = [
    ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
    ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
    ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
]


def small(**overrides: Any) -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=1, events_per_profile=1), **overrides)


class Box:
    """A sandbox started by this module."""

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
    return small()


@pytest.fixture(scope="module")
def shared() -> Iterator[Box]:
    with serve(small()) as box:
        yield box


def customer(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {"first_name": "Zhang", "last_name": f"San{n}", "sms_phone": "18163725558", **extra}


def payload(box: Any, customers: list[Any], merge_type: int = 1, **extra: Any) -> dict[str, Any]:
    c = box.credentials
    body = {"type": merge_type, "tenant_id": c.nxcloud_tenant_id, "app_key": c.nxcloud_app_key}
    return {**body, "customers": customers, **extra}


def send(
    box: Any,
    body: Any,
    *,
    path: str = PATH,
    ts_offset_s: float = 0,
    headers: dict[str, str] | None = None,
    drop: str | None = None,
    sign_override: str | None = None,
) -> requests.Response:
    """POST `body` signed like a client would, with optional tampering."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    signed = {
        "accessKey": box.credentials.nxcloud_access_key,
        "ts": str(int(time.time() * 1000 + ts_offset_s * 1000)),
        "bizType": "2",
        "action": "mt",
        **(headers or {}),
    }
    all_headers = {
        **signed,
        "sign": sign_override or sign(signed, raw, box.credentials.nxcloud_access_secret),
        "Content-Type": "application/json",
    }
    if drop:
        all_headers.pop(drop)
    return requests.post(f"{box.url}{path}", data=raw, headers=all_headers, timeout=10)


def code_of(answer: requests.Response) -> int:
    assert answer.status_code == 200  # errors are undocumented as HTTP statuses: 200 + code
    return answer.json()["code"]


@pytest.mark.parametrize(("body", "expected"), VECTORS)
def test_sign_matches_the_documented_vectors(body: str, expected: str) -> None:
    assert sign(VECTOR_HEADERS, body.encode(), VECTOR_SECRET) == expected
    assert verify(VECTOR_HEADERS, body.encode(), VECTOR_SECRET, expected)
    assert not verify(VECTOR_HEADERS, body.encode(), VECTOR_SECRET, expected.upper())
    assert not verify(VECTOR_HEADERS, body.encode() + b" ", VECTOR_SECRET, expected)


def test_empty_body_leaves_body_out() -> None:
    text = "accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431&accessSecret=abciiiko2k3"
    assert sign(VECTOR_HEADERS, b"", VECTOR_SECRET) == hashlib.md5(text.encode()).hexdigest()


@pytest.mark.parametrize(("body", "expected"), VECTORS)
def test_server_accepts_the_documented_signatures(body: str, expected: str) -> None:
    """The vectors' ts is from 2022: a correct sign gets past 1003 and stops at 1004."""
    creds = Credentials(nxcloud_access_key="fme2na3kdi3ki", nxcloud_access_secret=VECTOR_SECRET)
    with serve(small(credentials=creds)) as box:
        url = f"{box.url}{PATH}"
        good = requests.post(url, data=body.encode(), headers={**VECTOR_HEADERS, "sign": expected})
        bad_sign = expected[:-1] + ("0" if expected[-1] != "0" else "1")
        bad = requests.post(url, data=body.encode(), headers={**VECTOR_HEADERS, "sign": bad_sign})
    assert code_of(good) == 1004
    assert code_of(bad) == 1003


def test_batch_is_stored_with_its_merge_type(sandbox: Any) -> None:
    first = [customer(1, customize_field='{"customize_1_14": "aa"}'), customer(2, gender=0)]
    answer = send(sandbox, payload(sandbox, first, merge_type=0))
    assert code_of(answer) == 0
    body = answer.json()
    assert body["message"] == "" and "data" in body and body["traceId"]
    assert code_of(send(sandbox, payload(sandbox, [customer(3)], merge_type=2), path=OLD_PATH)) == 0
    got = sandbox.received()["nxcloud"]
    assert got["customers"] == [
        {"type": 0, **first[0]},
        {"type": 0, **first[1]},
        {"type": 2, **customer(3)},
    ]
    assert got["counts"] == {"customers": 3}
    assert sandbox.calls()["nxcloud:batch_create"] == 2


def test_signature_covers_raw_bytes(sandbox: Any) -> None:
    """Escaped or not, spaced or not: the sign is over the bytes actually sent."""
    body = payload(sandbox, [customer(1, first_name="牛小信")])
    for raw in (
        json.dumps(body, ensure_ascii=False).encode(),
        json.dumps(body).encode(),
        json.dumps(body, separators=(",", ":")).encode(),
    ):
        assert code_of(send(sandbox, raw)) == 0
    names = [c["first_name"] for c in sandbox.received()["nxcloud"]["customers"]]
    assert names == ["牛小信"] * 3


def test_limits_at_the_boundary_are_accepted(sandbox: Any) -> None:
    edge = customer(
        first_name="f" * 128,
        last_name="l" * 128,
        sms_phone="1" * 30,
        whats_app_phone="2" * 30,
        country="c" * 50,
        email="e" * 50,
        address="a" * 100,
        remark="r" * 100,
        belong_seat_user="b" * 128,
        birthday="2000-02-29",
        gender=1,
        customize_field="{}",
    )
    assert code_of(send(sandbox, payload(sandbox, [edge] * 100))) == 0
    assert sandbox.received()["nxcloud"]["counts"] == {"customers": 100}


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        *[({"drop": name}, 1001) for name in ("accessKey", "ts", "bizType", "action", "sign")],
        ({"headers": {"accessKey": "someone-else"}}, 1003),
        ({"sign_override": "0" * 32}, 1003),
        ({"ts_offset_s": -61}, 1004),
        ({"ts_offset_s": 61}, 1004),
        ({"headers": {"ts": "yesterday"}}, 1002),
        ({"headers": {"bizType": "1"}}, 1002),
        ({"headers": {"action": "send"}}, 1002),
    ],
)
def test_header_refusals(shared: Box, kwargs: dict[str, Any], code: int) -> None:
    answer = send(shared, payload(shared, [customer()]), **kwargs)
    assert code_of(answer) == code
    for secret in (shared.credentials.nxcloud_access_secret, shared.credentials.nxcloud_access_key):
        assert secret not in answer.text
    assert shared.received()["nxcloud"]["customers"] == []


def test_recent_ts_is_accepted(sandbox: Any) -> None:
    assert code_of(send(sandbox, payload(sandbox, [customer()]), ts_offset_s=-30)) == 0


def test_tampered_body_fails_the_signature(shared: Box) -> None:
    raw = json.dumps(payload(shared, [customer()])).encode()
    signed = {
        "accessKey": shared.credentials.nxcloud_access_key,
        "ts": str(int(time.time() * 1000)),
        "bizType": "2",
        "action": "mt",
    }
    headers = {**signed, "sign": sign(signed, raw, shared.credentials.nxcloud_access_secret)}
    answer = requests.post(f"{shared.url}{PATH}", data=raw + b" ", headers=headers, timeout=10)
    assert code_of(answer) == 1003


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"type": 3}, 1002, "type"),
        ({"type": "1"}, 1002, "type"),
        ({"type": None}, 1001, "type"),
        ({"tenant_id": "144"}, 1002, "tenant_id"),
        ({"tenant_id": 145}, 1005, "tenant_id"),
        ({"app_key": "other"}, 1005, "app_key"),
        ({"app_key": None}, 1001, "app_key"),
        ({"customers": None}, 1001, "customers"),
        ({"customers": []}, 1002, "customers"),
        ({"customers": [customer()] * 101}, 1002, "customers"),
        ({"customers": "x"}, 1002, "customers"),
    ],
)
def test_body_refusals(shared: Box, change: dict[str, Any], code: int, words: str) -> None:
    body = {k: v for k, v in {**payload(shared, [customer()]), **change}.items() if v is not None}
    answer = send(shared, body)
    assert code_of(answer) == code
    assert words in answer.json()["message"]
    assert shared.received()["nxcloud"]["customers"] == []


@pytest.mark.parametrize(
    ("bad", "code", "field"),
    [
        ({"first_name": None}, 1001, "first_name"),
        ({"last_name": ""}, 1001, "last_name"),
        ({"first_name": 5}, 1002, "first_name"),
        ({"first_name": "f" * 129}, 1002, "first_name"),
        ({"last_name": "l" * 129}, 1002, "last_name"),
        ({"sms_phone": "1" * 31}, 1002, "sms_phone"),
        ({"whats_app_phone": "1" * 31}, 1002, "whats_app_phone"),
        ({"country": "c" * 51}, 1002, "country"),
        ({"email": "e" * 51}, 1002, "email"),
        ({"address": "a" * 101}, 1002, "address"),
        ({"remark": "r" * 101}, 1002, "remark"),
        ({"belong_seat_user": "b" * 129}, 1002, "belong_seat_user"),
        ({"birthday": "1976/04/12"}, 1002, "birthday"),
        ({"birthday": "1976-02-30"}, 1002, "birthday"),
        ({"gender": 2}, 1002, "gender"),
        ({"gender": "1"}, 1002, "gender"),
        ({"customize_field": {"a": 1}}, 1002, "customize_field"),
        ({"customize_field": "not json"}, 1002, "customize_field"),
        ({"customize_field": "[1]"}, 1002, "customize_field"),
    ],
)
def test_customer_refusals(shared: Box, bad: dict[str, Any], code: int, field: str) -> None:
    customers = [customer(0), customer(1), {**customer(2), **bad}]
    customers[2] = {k: v for k, v in customers[2].items() if v is not None}
    answer = send(shared, payload(shared, customers))
    assert code_of(answer) == code
    assert f"customers[2].{field}" in answer.json()["message"]
    assert shared.received()["nxcloud"]["customers"] == []


def test_not_json_is_refused(shared: Box) -> None:
    assert code_of(send(shared, b"{oops")) == 1002
    assert code_of(send(shared, b"")) == 1001


def test_store_bodies_off_keeps_counts_only() -> None:
    with serve(small(store_bodies=False)) as box:
        assert code_of(send(box, payload(box, [customer(1), customer(2)]))) == 0
        assert box.received()["nxcloud"] == {"counts": {"customers": 2}}
