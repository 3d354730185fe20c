"""PrimeData emulator: `/pub/profiles/advanced-search`, `/pub/events/advanced-search`, and the
control endpoints `/_sandbox/primedata/events` (add events at any time) and
`/_sandbox/primedata/profiles` (list profiles; change one's traits and `last_updated`).

Strict to /work/shared/apis.md: `x-api-key` auth, 400 `invalid_request_error` /
`validation_error`, 401 `authentication_error`, 404 `not_found`; events filtered by exclusive
`start`/`end`, `include`, `sort`, paged by `limit` and an opaque `cursor` bound to its query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from cdp_sandbox.app import App, Request, Response
from cdp_sandbox.primedata_ids import IDENTITY_NAMES
from cdp_sandbox.timeformat import parse_ts
from cdp_sandbox.workspace import Workspace

AUTH_MESSAGE = "Failure to properly authenticate yourself in the request."
NOT_FOUND_MESSAGE = "The requested resource doesn't exist."
PROFILE_TYPES = ("trait", "ptrait", "identity")
DEFAULT_LIMIT, MAX_LIMIT = 25, 100


class ApiError(Exception):
    """An error answer `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        return Response(self.status, {"error": {"code": self.code, "message": self.message}})


def _invalid(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)


def _validation(message: str) -> ApiError:
    return ApiError(400, "validation_error", message)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", NOT_FOUND_MESSAGE)


def _java(value: Any) -> str:
    """Render like Java's toString, as the vendor's messages do: `{name=[v1, v2]}`."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    return str(value)


def _string_list(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _validation(f"Invalid {key} {_java(value)}: expected a list of strings")
    return value


Endpoint = Callable[["PrimeDataApi", Request], Response]


class PrimeDataApi:
    """The handlers, bound to one workspace and the sandbox's credentials."""

    def __init__(self, app: App, workspace: Workspace) -> None:
        self.app, self.workspace = app, workspace

    # shared steps ------------------------------------------------------------------------
    def _body(self, request: Request) -> dict[str, Any]:
        expected = self.app.config.credentials.primedata_api_key
        given = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(401, "authentication_error", AUTH_MESSAGE)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise _invalid("Invalid request: the body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _invalid("Invalid request: the body must be a JSON object.")
        return body

    def _resolve(self, body: dict[str, Any]) -> int:
        """The profile index named by `profile_id` (which wins) or `identities`."""
        profile_id = body.get("profile_id")
        if profile_id is not None:
            if not isinstance(profile_id, str) or not profile_id:
                raise _invalid("Invalid request: profile_id must be a non-empty string.")
            index = self.workspace.index_of(profile_id)
            if index is None:
                raise _not_found()
            return index
        identities = body.get("identities")
        if identities is None:
            raise _invalid("Invalid request: identities or profile_id is required.")
        if not isinstance(identities, dict) or not identities:
            raise _invalid("Invalid request: identities must be an object of identity lists.")
        bad = {
            k: v
            for k, v in identities.items()
            if k not in IDENTITY_NAMES or not isinstance(v, list)
        }
        if bad:
            raise _validation(f"Invalid Identities {_java(bad)}")
        if not any(identities.values()):
            raise _invalid("Invalid request: identities or profile_id is required.")
        for name, values in identities.items():
            for value in values:
                index = self.workspace.lookup(name, value)
                if index is not None:
                    return index
        raise _not_found()

    @staticmethod
    def _guard(handler: Endpoint) -> Endpoint:
        def run(self: PrimeDataApi, request: Request) -> Response:
            try:
                return handler(self, request)
            except ApiError as error:
                return error.response()

        run.__doc__ = handler.__doc__
        return run

    # vendor API --------------------------------------------------------------------------
    @_guard
    def profiles(self, request: Request) -> Response:
        """`POST /pub/profiles/advanced-search`."""
        body = self._body(request)
        types = _string_list(body, "type") or list(PROFILE_TYPES)
        if any(t not in PROFILE_TYPES for t in types):
            raise _validation(
                f"Invalid type {_java(types)}: allowed values are trait, ptrait, identity"
            )
        include = _string_list(body, "include") or None  # [] means all, like absent
        index = self._resolve(body)
        full = self.workspace.raw_profile(index)
        data: dict[str, Any] = {
            "profile_id": full["profile_id"],
            "last_updated": full["last_updated"],
        }
        if "identity" in types:
            data["identity"] = full["identity"]
        for kind, section in (("trait", "trait"), ("ptrait", "p_trait")):
            if kind in types:
                data[section] = {
                    k: v for k, v in full[section].items() if include is None or k in include
                }
        return Response(200, {"data": data})

    @_guard
    def events(self, request: Request) -> Response:
        """`POST /pub/events/advanced-search`."""
        body = self._body(request)
        bounds: list[float | None] = []
        for key in ("start", "end"):
            value = body.get(key)
            if value is None:
                bounds.append(None)
                continue
            try:
                bounds.append(parse_ts(value))
            except (ValueError, TypeError):
                raise _validation(
                    f"Invalid {key} {_java(value)}: expected an ISO 8601 date or date-time"
                ) from None
        include = _string_list(body, "include") or None  # [] means all
        if include is not None:
            unknown = [n for n in include if n not in self.workspace.event_names()]
            if unknown:
                raise _validation(f"Invalid Events {_java(unknown)}")
        sort = body.get("sort")
        if sort not in (None, "asc", "desc"):
            raise _validation(f"Invalid sort {_java(sort)}: expected asc or desc")
        limit = body.get("limit", DEFAULT_LIMIT)
        if limit is None:
            limit = DEFAULT_LIMIT
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_LIMIT:
            raise _validation(f"Invalid limit {_java(limit)}: expected 1..{MAX_LIMIT}")
        index = self._resolve(body)
        names = None if include is None else sorted(set(include))
        query = json.dumps([self.workspace.profile_id(index), *bounds, names, sort])
        digest = hashlib.blake2b(query.encode(), digest_size=12).hexdigest()
        offset = _read_cursor(body.get("cursor"), digest)
        chosen = self.workspace.select(index, bounds[0], bounds[1], names, sort)
        page = chosen[offset : offset + limit]
        end = offset + len(page)
        if end < len(chosen):
            cursor = {"has_more": True, "next": _make_cursor(end, digest)}
        else:
            cursor = {"has_more": False}
        payload = b'{"data":[' + b",".join(e[3] for e in page) + b'],"cursor":'
        return Response(200, payload + json.dumps(cursor).encode() + b"}")

    # control -----------------------------------------------------------------------------
    def add_events(self, request: Request) -> Response:
        """`POST /_sandbox/primedata/events` `{"profile_id", "events": [...]}` -> `{"ids"}`."""
        try:
            body = request.json()
            index = self.workspace.index_of(body.get("profile_id"))
            events = body.get("events")
            if index is None:
                return _not_found().response()
            if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
                raise ValueError("events must be a list of objects")
            ids = self.workspace.add_events(index, events)
        except (ValueError, TypeError, AttributeError) as exc:
            return _invalid(f"Invalid request: {exc}").response()
        return Response(200, {"ids": ids})

    def update_profile(self, request: Request) -> Response:
        """`POST /_sandbox/primedata/profiles` `{"profile_id", "trait"?, "p_trait"?,
        "last_updated"?}` -> `{"profile"}`: change a profile's traits, moving its
        `last_updated` (default: now)."""
        try:
            body = request.json()
            index = self.workspace.index_of(body.get("profile_id"))
            if index is None:
                return _not_found().response()
            profile = self.workspace.update_profile(
                index, body.get("trait"), body.get("p_trait"), body.get("last_updated")
            )
        except (ValueError, TypeError, AttributeError) as exc:
            return _invalid(f"Invalid request: {exc}").response()
        return Response(200, {"profile": profile})

    def clear_events(self, request: Request) -> Response:
        """`DELETE /_sandbox/primedata/events`: forget every added event and profile change."""
        self.workspace.clear_overlay()
        return Response(200, {"ok": True})

    def list_profiles(self, request: Request) -> Response:
        """`GET /_sandbox/primedata/profiles?limit=N&offset=M` -> `{"total", "profiles"}`."""
        try:
            limit = int(request.query.get("limit", 100))
            offset = int(request.query.get("offset", 0))
        except ValueError:
            return _invalid("Invalid request: limit and offset must be integers").response()
        ws = self.workspace
        indexes = range(max(0, offset), min(ws.profiles, max(0, offset) + max(0, limit)))
        profiles = [
            {"index": i, "profile_id": ws.profile_id(i), "identity": ws.identities(i)}
            for i in indexes
        ]
        return Response(200, {"total": ws.profiles, "profiles": profiles})


def _make_cursor(offset: int, digest: str) -> str:
    return base64.b64encode(f"{offset}::{digest}".encode()).decode()


def _read_cursor(cursor: Any, digest: str) -> int:
    """The offset a cursor points at; 400 when it is garbage or belongs to another query."""
    if cursor is None:
        return 0
    try:
        offset, _, owner = base64.b64decode(cursor, validate=True).decode().partition("::")
        if owner != digest or not offset.isdigit():
            raise ValueError(cursor)
        return int(offset)
    except (ValueError, TypeError):
        raise _invalid("Invalid cursor: it does not belong to this query.") from None


def register(app: App) -> None:
    """Add the PrimeData routes and control endpoints to `app` (its workspace: `app.primedata`)."""
    workspace = Workspace.from_config(app.config.workspace)
    api = PrimeDataApi(app, workspace)
    app.primedata = workspace
    app.route("POST", "/pub/profiles/advanced-search", api.profiles)
    app.route("POST", "/pub/events/advanced-search", api.events)
    app.route("POST", "/_sandbox/primedata/events", api.add_events)
    app.route("DELETE", "/_sandbox/primedata/events", api.clear_events)
    app.route("GET", "/_sandbox/primedata/profiles", api.list_profiles)
    app.route("POST", "/_sandbox/primedata/profiles", api.update_profile)
