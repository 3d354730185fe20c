"""EngageLab MA emulator: `/v1/user/register`, `/v1/user/contact`, `/v1/user/property`,
`/v1/event/report`.

Success is `{"code": 0, "message": "success"}` with HTTP 200. A bad `Authorization` is code 40050
with HTTP 401. No public source gives the HTTP status of the other error codes, so they are
answered with HTTP 200 and the code in the body. One bad event refuses the whole report.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import Any

from cdp_sandbox.app import App, Request, Response
from cdp_sandbox.limits import (
    VendorState,
    is_blank,
    is_datetime,
    is_int,
    is_number,
    looks_like_datetime,
)

FIRST_EUID = 10362473
IDENTITY_NAMES = ("user_id", "anonymous_id", "registration_id")
MAX_IDENTITIES = 100
MAX_IDENTITY_LENGTH = 256
PROPERTY_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# itime is in milliseconds: refuse values that are plainly seconds (before 1973) or absurd.
MIN_ITIME, MAX_ITIME = 10**11, 10**14
MESSAGES = {
    40050: "Interface authentication failed.",
    40007: "EUID is empty.",
    55004: "Invalid business parameters.",
    55101: "The number of user identifiers exceeds the limit.",
    55102: "Invalid user attribute names exist.",
    55103: "User attribute values cannot be empty.",
    55105: "The user identifier value cannot exceed 256 characters.",
    55106: "The user identifier name is not in the supported range.",
    55107: "The user identifier value is empty.",
    55108: "Invalid EUID.",
    -1: "Internal server error.",
}


class Refused(Exception):
    """A request refused with an EngageLab code."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def _layout() -> dict[str, Any]:
    return {
        "identities": {},
        "contacts": {},
        "properties": {},
        "events": [],
        "counts": {
            "identities": 0,
            "contacts": 0,
            "properties": 0,
            "events": 0,
            "duplicate_events": 0,
        },
    }


def _side(bucket: dict[str, Any]) -> dict[str, Any]:
    # The identity map is needed even when bodies are not kept (euids must stay stable).
    return {"identities": bucket.get("identities", {}), "euids": set(), "seen": set()}


def _check_properties(props: Any, where: str, *, allow_empty_values: bool) -> None:
    """Names must be identifiers; datetimes `YYYY-MM-DD HH:MM:SS`."""
    if not isinstance(props, dict):
        raise Refused(55004, f"{where} must be an object")
    for name, value in props.items():
        if not PROPERTY_NAME_RE.fullmatch(name):
            raise Refused(55102, f"{where}: invalid name {name[:80]!r}")
        if not allow_empty_values and (value is None or value == ""):
            raise Refused(55103, f"{where}.{name} is empty")
        if looks_like_datetime(value) and not is_datetime(value):
            raise Refused(55004, f"{where}.{name}: datetimes must be 'YYYY-MM-DD HH:MM:SS'")


def _euid(value: Any, where: str) -> int:
    if value is None or value == "":
        raise Refused(40007, f"{where} is empty")
    if not is_int(value):
        raise Refused(55108, f"{where} must be a number")
    return value


class EngageLab:
    """The MA REST API of one sandbox."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.config = app.config
        creds = app.config.credentials
        self.expected = f"{creds.engagelab_api_key}:{creds.engagelab_api_secret}".encode()
        self.contact_keys = frozenset(app.config.engagelab_contact_keys)
        self.state = VendorState(app, "engagelab", _layout, _side)

    def wrap(self, op: str, inner: Any) -> Any:
        """A route handler: count, authenticate, parse, run `inner(body)`, answer."""

        def handle(request: Request) -> Response:
            self.app.store.count_call(f"engagelab:{op}")
            self.state.touch()
            if not self._authorized(request.headers.get("authorization", "")):
                return Response(401, {"code": 40050, "message": MESSAGES[40050]})
            try:
                try:
                    body = request.json()
                except ValueError as exc:
                    raise Refused(55004, "the body is not JSON") from exc
                if not isinstance(body, dict):
                    raise Refused(55004, "the body must be a JSON object")
                answer = inner(body)
            except Refused as refused:
                message = MESSAGES[refused.code]
                if refused.detail:
                    message = f"{message} {refused.detail}"
                # HTTP status of data errors is undocumented: 200 with the code in the body.
                return Response(200, {"code": refused.code, "message": message})
            return Response(200, {"code": 0, "message": "success", **answer})

        return handle

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(decoded, self.expected)

    def _known(self, euid: int, where: str) -> None:
        """Refuse an euid never handed out (call holding the store lock)."""
        if euid not in self.state.side["euids"]:
            raise Refused(55108, f"{where} {euid} is unknown")

    # operations --------------------------------------------------------------------
    def register(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("identity_name")
        if name not in IDENTITY_NAMES:
            raise Refused(55106, f"identity_name must be one of {', '.join(IDENTITY_NAMES)}")
        values = body.get("identity_values")
        if not isinstance(values, list) or not values:
            raise Refused(55004, "identity_values must be a non-empty array")
        if len(values) > MAX_IDENTITIES:
            raise Refused(55101, f"{len(values)} values, at most {MAX_IDENTITIES}")
        for index, value in enumerate(values):
            if is_blank(value):
                raise Refused(55107, f"identity_values[{index}] is empty")
            if not isinstance(value, str):
                raise Refused(55004, f"identity_values[{index}] must be a string")
            if len(value) > MAX_IDENTITY_LENGTH:
                raise Refused(55105, f"identity_values[{index}] is {len(value)} characters")
        data = []
        with self.app.store.lock:
            bucket = self.state.bucket()
            side = self.state.side
            identities: dict[str, int] = side["identities"]
            for value in values:
                key = f"{name}:{value}"
                euid = identities.get(key)
                if euid is None:
                    euid = FIRST_EUID + len(side["euids"])
                    identities[key] = euid
                    side["euids"].add(euid)
                    bucket["counts"]["identities"] += 1
                data.append({"identity_value": value, "euid": euid})
        return {"data": data}

    def contact(self, body: dict[str, Any]) -> dict[str, Any]:
        euid = _euid(body.get("euid"), "euid")
        contacts = body.get("contacts")
        if not isinstance(contacts, dict) or not contacts:
            raise Refused(55004, "contacts must be a non-empty object")
        for key, value in contacts.items():
            if key not in self.contact_keys:
                raise Refused(55102, f"contacts: unknown contact {key[:80]!r}")
            if not isinstance(value, str):
                raise Refused(55004, f"contacts.{key} must be a string")
            if not value:
                raise Refused(55103, f"contacts.{key} is empty")
        with self.app.store.lock:
            bucket = self.state.bucket()
            self._known(euid, "euid")
            bucket["counts"]["contacts"] += 1
            if self.state.keep:
                bucket["contacts"].setdefault(str(euid), {}).update(contacts)
        return {}

    def property(self, body: dict[str, Any]) -> dict[str, Any]:
        euid = _euid(body.get("euid"), "euid")
        kind = body.get("type")
        if kind not in ("set", "increase"):
            raise Refused(55004, "type must be 'set' or 'increase'")
        props = body.get("properties")
        if not isinstance(props, dict) or not props:
            raise Refused(55004, "properties must be a non-empty object")
        _check_properties(props, "properties", allow_empty_values=False)
        if kind == "increase":
            for name, value in props.items():
                if not is_number(value):
                    raise Refused(55004, f"properties.{name} must be a number to increase")
        with self.app.store.lock:
            bucket = self.state.bucket()
            self._known(euid, "euid")
            bucket["counts"]["properties"] += 1
            if self.state.keep:
                stored = bucket["properties"].setdefault(str(euid), {})
                if kind == "set":
                    stored.update(props)
                else:
                    for name, value in props.items():
                        old = stored.get(name)
                        stored[name] = (old if is_number(old) else 0) + value
        return {}

    def report(self, body: dict[str, Any]) -> dict[str, Any]:
        items = body.get("data")
        if not isinstance(items, list) or not items:
            raise Refused(55004, "data must be a non-empty array")
        limit = self.config.engagelab_max_events
        if len(items) > limit:
            raise Refused(55004, f"{len(items)} events, at most {limit} in one report")
        events = [self._event(item, f"data[{index}]") for index, item in enumerate(items)]
        with self.app.store.lock:
            bucket = self.state.bucket()
            for index, event in enumerate(events):
                self._known(event["euid"], f"data[{index}].euid")
            counts = bucket["counts"]
            seen: set[tuple[int, str]] = self.state.side["seen"]
            for event in events:
                if event["random_id"] is not None:
                    key = (event["euid"], event["random_id"])
                    if key in seen:
                        counts["duplicate_events"] += 1
                        continue
                    seen.add(key)
                counts["events"] += 1
                if self.state.keep:
                    bucket["events"].append(event)
        return {}

    @staticmethod
    def _event(item: Any, where: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise Refused(55004, f"{where} must be an object")
        euid = _euid(item.get("euid"), f"{where}.euid")
        name = item.get("event_name")
        if is_blank(name) or not isinstance(name, str):
            raise Refused(55004, f"{where}.event_name is required")
        itime = item.get("itime")
        if not is_int(itime) or not MIN_ITIME <= itime < MAX_ITIME:
            raise Refused(55004, f"{where}.itime must be a timestamp in milliseconds")
        random_id = item.get("random_id")
        if random_id is not None and (not isinstance(random_id, str) or not random_id):
            raise Refused(55004, f"{where}.random_id must be a non-empty string")
        props = item.get("properties")
        if props is None:
            props = {}
        _check_properties(props, f"{where}.properties", allow_empty_values=True)
        return {
            "euid": euid,
            "event_name": name,
            "itime": itime,
            "random_id": random_id,
            "properties": props,
        }


def register(app: App) -> None:
    """Add the EngageLab routes to `app`."""
    lab = EngageLab(app)
    app.route("POST", "/v1/user/register", lab.wrap("register", lab.register))
    app.route("POST", "/v1/user/contact", lab.wrap("contact", lab.contact))
    app.route("POST", "/v1/user/property", lab.wrap("property", lab.property))
    app.route("POST", "/v1/event/report", lab.wrap("event", lab.report))
