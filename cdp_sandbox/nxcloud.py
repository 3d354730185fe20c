"""NXCloud (NXLINK CDP) emulator: `POST .../openapi/customers/batch_create`, signed requests.

Success is `{"code": 0, "message": "", "data": "", "traceId": ...}`. No public source gives the
HTTP status of an error, so every answer is HTTP 200 with the code in the body. A batch with
any bad customer is refused whole.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from cdp_sandbox.app import App, Request, Response
from cdp_sandbox.limits import VendorState, is_blank, is_date, is_int

PATHS = (
    "/saas/sea/cdp/openapi/customers/batch_create",
    "/saas/cdp/openapi/customers/batch_create",
)
# Signed headers, by their canonical (case-sensitive) names.
SIGNED_HEADERS = ("accessKey", "action", "bizType", "ts")
MAX_SKEW_MS = 60_000
MAX_CUSTOMERS = 100
MERGE_TYPES = (0, 1, 2)
# Customer string fields and their longest length (None: no documented limit).
STRING_FIELDS: dict[str, int | None] = {
    "first_name": 128,
    "last_name": 128,
    "full_name": 255,
    "sms_phone": 30,
    "whats_app_phone": 30,
    "country": 50,
    "email": 50,
    "address": 100,
    "remark": 100,
    "belong_seat_user": 128,
    "birthday": None,
    "tagStr": None,
    "time_zone": None,
    "customize_field": None,
    "source": None,
}
# The names a customer must have, by API version: the first requires `first_name` and
# `last_name`, a newer one `full_name` instead. A request does not say its version: a
# customer that has the names of either is complete.
REQUIRED_FIELDS: dict[int, tuple[str, ...]] = {1: ("first_name", "last_name"), 2: ("full_name",)}
MESSAGES = {
    1001: "missing parameter",
    1002: "bad parameter",
    1003: "invalid signature",
    1004: "timestamp expired",
    1005: "no permission",
}


def sign(headers: Mapping[str, str], body: bytes, secret: str) -> str:
    """NXCloud's signature: md5 of the headers in ASCII key order, the raw body, the secret."""
    text = "&".join(f"{key}={headers[key]}" for key in sorted(headers)).encode("utf-8")
    if body:
        text += b"&body=" + body
    text += b"&accessSecret=" + secret.encode("utf-8")
    return hashlib.md5(text).hexdigest()


def verify(headers: Mapping[str, str], body: bytes, secret: str, signature: str) -> bool:
    """True when `signature` is the lowercase hex signature of `headers` and `body`."""
    return hmac.compare_digest(sign(headers, body, secret).encode(), signature.encode())


class Refused(Exception):
    """A request refused with an NXCloud code."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def _layout() -> dict[str, Any]:
    return {"customers": [], "counts": {"customers": 0}}


def _check_customer(customer: Any, where: str) -> None:
    if not isinstance(customer, dict):
        raise Refused(1002, f"{where} must be an object")
    missing = {
        v: [n for n in names if is_blank(customer.get(n))] for v, names in REQUIRED_FIELDS.items()
    }
    if all(missing.values()):
        raise Refused(1001, f"{where}.{missing[1][0]} is required")
    for name, limit in STRING_FIELDS.items():
        value = customer.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise Refused(1002, f"{where}.{name} must be a string")
        if limit is not None and len(value) > limit:
            raise Refused(1002, f"{where}.{name} is longer than {limit} characters")
    birthday = customer.get("birthday")
    if birthday is not None and not is_date(birthday):
        raise Refused(1002, f"{where}.birthday must be yyyy-MM-dd")
    gender = customer.get("gender")
    if gender is not None and (not is_int(gender) or gender not in (0, 1)):
        raise Refused(1002, f"{where}.gender must be 0 or 1")
    custom = customer.get("customize_field")
    if custom is not None:
        try:
            parsed = json.loads(custom)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise Refused(1002, f"{where}.customize_field must be a string holding a JSON object")


class NXCloud:
    """The customer batch API of one sandbox."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.credentials = app.config.credentials
        self.state = VendorState(app, "nxcloud", _layout)

    def handle(self, request: Request) -> Response:
        self.app.store.count_call("nxcloud:batch_create")
        self.state.touch()
        trace_id = uuid.uuid4().hex
        try:
            merge_type, customers = self._validate(request)
        except Refused as refused:
            message = MESSAGES[refused.code]
            if refused.detail:
                message = f"{message}: {refused.detail}"
            # HTTP status of errors is undocumented: 200 with the code in the body.
            body = {"code": refused.code, "message": message, "data": None, "traceId": trace_id}
            return Response(200, body)
        with self.app.store.lock:
            bucket = self.state.bucket()
            bucket["counts"]["customers"] += len(customers)
            if self.state.keep:
                bucket["customers"].extend({"type": merge_type, **c} for c in customers)
        return Response(200, {"code": 0, "message": "", "data": "", "traceId": trace_id})

    def _authenticate(self, request: Request) -> None:
        signed: dict[str, str] = {}
        for name in (*SIGNED_HEADERS, "sign"):
            value = request.headers.get(name.lower(), "").strip()
            if not value:
                raise Refused(1001, f"header {name} is required")
            signed[name] = value
        signature = signed.pop("sign")
        expected_key = self.credentials.nxcloud_access_key.encode()
        if not hmac.compare_digest(signed["accessKey"].encode(), expected_key):
            raise Refused(1003, "unknown accessKey")
        if not verify(signed, request.body, self.credentials.nxcloud_access_secret, signature):
            raise Refused(1003, "sign does not match")
        if not signed["ts"].isdigit():
            raise Refused(1002, "header ts must be milliseconds since the epoch")
        if abs(int(signed["ts"]) - time.time() * 1000) > MAX_SKEW_MS:
            raise Refused(1004, "ts is more than 60 seconds from the server's clock")
        if signed["bizType"] != "2":
            raise Refused(1002, 'header bizType must be "2"')
        if signed["action"] != "mt":
            raise Refused(1002, 'header action must be "mt"')

    def _validate(self, request: Request) -> tuple[int, list[dict[str, Any]]]:
        self._authenticate(request)
        if not request.body:
            raise Refused(1001, "the body is required")
        try:
            body = request.json()
        except ValueError as exc:
            raise Refused(1002, "the body is not JSON") from exc
        if not isinstance(body, dict):
            raise Refused(1002, "the body must be a JSON object")
        for name in ("type", "tenant_id", "app_key", "customers"):
            if body.get(name) is None:
                raise Refused(1001, f"{name} is required")
        merge_type, tenant_id, app_key = body["type"], body["tenant_id"], body["app_key"]
        if not is_int(merge_type) or merge_type not in MERGE_TYPES:
            raise Refused(1002, "type must be 0, 1 or 2")
        if not is_int(tenant_id):
            raise Refused(1002, "tenant_id must be an integer")
        if not isinstance(app_key, str):
            raise Refused(1002, "app_key must be a string")
        if tenant_id != self.credentials.nxcloud_tenant_id or app_key != (
            self.credentials.nxcloud_app_key
        ):
            raise Refused(1005, "tenant_id or app_key does not match the accessKey")
        customers = body["customers"]
        if not isinstance(customers, list) or not 1 <= len(customers) <= MAX_CUSTOMERS:
            raise Refused(1002, f"customers must be an array of 1 to {MAX_CUSTOMERS} customers")
        for index, customer in enumerate(customers):
            _check_customer(customer, f"customers[{index}]")
        return merge_type, customers


def register(app: App) -> None:
    """Add the NXCloud routes to `app`."""
    handler = NXCloud(app).handle
    for path in PATHS:
        app.route("POST", path, handler)
