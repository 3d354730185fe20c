"""Dmartech emulator: `POST /api/v1/api/import?secret=...` for all five import types.

Answers `{"errcode": 0, "errmsg": "success"}` with HTTP 200. The vendor's doc mirror shows its
error answers with HTTP 404 and the errcode in the body, so errors use
`config.dmartech_error_status` (404 by default). A batch with any bad item is refused whole.
"""

from __future__ import annotations

from typing import Any

from cdp_sandbox.app import App, Request, Response
from cdp_sandbox.limits import VendorState, is_blank, is_datetime

PATH = "/api/v1/api/import"
TYPES = ("user", "user_batch", "user_delete", "event", "event_batch")
MESSAGES = {
    10000: "system error",
    10001: "json data format failed",
    10002: "illegal type value",
    10003: "missing secret parameter",
    10004: "property list is empty",
    20000: "authentication failed",
    20001: "user property with primary key identifier missing",
    20002: "need at least one valued user property with primary key identifier",
    20003: "data validation failed",
}


class Refused(Exception):
    """A request refused with a Dmartech errcode."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def _layout() -> dict[str, Any]:
    return {
        "users": [],
        "user_deletes": [],
        "events": [],
        "imports": [],  # the type of each accepted request, in arrival order
        "counts": {"users": 0, "user_deletes": 0, "events": 0, "duplicate_events": 0},
    }


def _side(bucket: dict[str, Any]) -> dict[str, Any]:
    return {"event_ids": set()}


class Dmartech:
    """The import endpoint of one sandbox."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.config = app.config
        self.primary_keys = tuple(app.config.dmartech_primary_keys)
        self.state = VendorState(app, "dmartech", _layout, _side)

    def handle(self, request: Request) -> Response:
        self.app.store.count_call("dmartech:import")
        self.state.touch()
        try:
            kind, event, items = self._validate(request)
        except Refused as refused:
            message = MESSAGES[refused.code]
            if refused.detail:
                message = f"{message}: {refused.detail}"
            # Error HTTP status from the vendor doc (httpCode=404 on its error example).
            return Response(
                self.config.dmartech_error_status, {"errcode": refused.code, "errmsg": message}
            )
        self._store(kind, event, items)
        return Response(200, {"errcode": 0, "errmsg": "success"})

    # validation ------------------------------------------------------------------
    def _validate(self, request: Request) -> tuple[str, str | None, list[dict[str, Any]]]:
        secret = request.query.get("secret")
        if not secret:
            raise Refused(10003)
        if secret != self.config.credentials.dmartech_secret:
            raise Refused(20000)
        try:
            body = request.json()
        except ValueError as exc:
            raise Refused(10001) from exc
        if not isinstance(body, dict):
            raise Refused(10001, "the body must be a JSON object")
        kind = body.get("type")
        if kind not in TYPES:
            raise Refused(10002, f"type must be one of {', '.join(TYPES)}")
        props = body.get("properties")
        if not props:
            raise Refused(10004)
        batch = kind.endswith("_batch")
        if batch:
            if not isinstance(props, list):
                raise Refused(20003, f"properties must be an array for {kind}")
            if len(props) > self.config.dmartech_max_batch:
                raise Refused(
                    20003,
                    f"{len(props)} items, more than the {self.config.dmartech_max_batch} "
                    "allowed in one batch",
                )
            items = props
        else:
            if not isinstance(props, dict):
                raise Refused(20003, f"properties must be an object for {kind}")
            items = [props]
        event = None
        if kind.startswith("event"):
            event = body.get("event")
            if is_blank(event) or not isinstance(event, str):
                raise Refused(20003, "event (the event name) is required")
        for index, item in enumerate(items):
            where = f"properties[{index}]" if batch else "properties"
            self._check_item(item, where, kind.startswith("event"))
        return kind, event, items

    def _check_item(self, item: Any, where: str, is_event: bool) -> None:
        if not isinstance(item, dict):
            raise Refused(20003, f"{where} must be an object")
        if not item:
            raise Refused(10004, f"{where} is empty")
        present = [key for key in self.primary_keys if key in item]
        if not present:
            raise Refused(20001, f"{where} has none of {', '.join(self.primary_keys)}")
        if all(is_blank(item[key]) for key in present):
            raise Refused(20002, f"{where}: {', '.join(present)} all empty")
        if is_event:
            event_id = item.get("event_id")
            if (
                is_blank(event_id)
                or isinstance(event_id, bool)
                or not isinstance(event_id, str | int)
            ):
                raise Refused(20003, f"{where}.event_id is required")
            if "create_time" not in item:
                raise Refused(20003, f"{where}.create_time is required")
            if not is_datetime(item["create_time"]):
                raise Refused(20003, f"{where}.create_time must be 'YYYY-MM-DD HH:MM:SS'")

    # storage ---------------------------------------------------------------------
    def _store(self, kind: str, event: str | None, items: list[dict[str, Any]]) -> None:
        keep = self.state.keep
        with self.app.store.lock:
            bucket = self.state.bucket()
            counts = bucket["counts"]
            if keep:
                bucket["imports"].append(kind)
            if kind in ("user", "user_batch"):
                counts["users"] += len(items)
                if keep:
                    bucket["users"].extend(items)
            elif kind == "user_delete":
                counts["user_deletes"] += len(items)
                if keep:
                    bucket["user_deletes"].extend(items)
            else:
                seen: set[str] = self.state.side["event_ids"]
                for item in items:
                    event_id = str(item["event_id"])
                    if event_id in seen:
                        counts["duplicate_events"] += 1
                        continue
                    seen.add(event_id)
                    counts["events"] += 1
                    if keep:
                        bucket["events"].append({"event": event, **item})


def register(app: App) -> None:
    """Add the Dmartech route to `app`."""
    app.route("POST", PATH, Dmartech(app).handle)
