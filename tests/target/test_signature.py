"""NXCloud's signature: the vendor's published test vectors and the properties it relies on."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from target_cdp.vendors.nxcloud import NXCloud
from target_cdp.vendors.signing import nxcloud_sign

VECTOR_HEADERS = {
    "accessKey": "fme2na3kdi3ki",
    "ts": "1655710885431",
    "bizType": "1",
    "action": "send",
}
VECTOR_SECRET = "abciiiko2k3"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
        ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
        ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
    ],
)
def test_vendor_vectors(body: str, expected: str) -> None:
    assert nxcloud_sign(VECTOR_HEADERS, body.encode("utf-8"), VECTOR_SECRET) == expected


def test_header_order_does_not_matter() -> None:
    body = '{"id":10001,"name":"牛小信"}'.encode()
    reordered = dict(sorted(VECTOR_HEADERS.items(), reverse=True))
    assert nxcloud_sign(reordered, body, VECTOR_SECRET) == nxcloud_sign(
        VECTOR_HEADERS, body, VECTOR_SECRET
    )


def test_empty_body_leaves_out_the_body_part() -> None:
    plain = (
        "accessKey=fme2na3kdi3ki&action=send&bizType=1&ts=1655710885431&accessSecret=abciiiko2k3"
    )
    expected = hashlib.md5(plain.encode()).hexdigest()
    assert nxcloud_sign(VECTOR_HEADERS, b"", VECTOR_SECRET) == expected


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
def test_signature_is_lowercase_hex_and_body_sensitive(data: dict[str, str]) -> None:
    body = json.dumps(data, ensure_ascii=False).encode()
    sign = nxcloud_sign(VECTOR_HEADERS, body, VECTOR_SECRET)
    assert len(sign) == 32 and sign == sign.lower() and int(sign, 16) >= 0
    assert nxcloud_sign(VECTOR_HEADERS, body + b" ", VECTOR_SECRET) != sign


def test_destination_signs_its_exact_body_with_fresh_headers() -> None:
    dest = NXCloud(
        {"access_key": "k-123", "access_secret": "s-456", "tenant_id": 1, "app_key": "a"}
    )
    call = dest.build(None, [{"first_name": "牛", "last_name": "小信"}])  # type: ignore[arg-type]
    headers = dest.sign(call)
    assert headers["accessKey"] == "k-123"
    assert (headers["bizType"], headers["action"]) == ("2", "mt")
    assert headers["ts"].isdigit() and len(headers["ts"]) == 13
    signed = {k: headers[k] for k in ("accessKey", "action", "bizType", "ts")}
    assert headers["sign"] == nxcloud_sign(signed, call.body, "s-456")
    assert "牛".encode() in call.body  # UTF-8, not \u-escaped
    assert "s-456" not in json.dumps(headers)
    assert call.sensitive_headers >= {"sign"}
