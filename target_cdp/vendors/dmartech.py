"""Dmartech: users, user deletions and events, all `POST {url}?secret=...` with a `type`.

`api_url` (the "data receiving url") and `batch_url` (the "batch data interface", default
`api_url`) are either the full import URL or a base URL: a URL without a path gets
`/api/v1/api/import` appended. One-item requests go to `api_url` as `user`/`event`, larger
ones to `batch_url` as `user_batch`/`event_batch`; `user_delete` has no batch form.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from singer_sdk import typing as th

from target_cdp import convert
from target_cdp.routes import Route
from target_cdp.vendors.base import Answer, Call, ConfigError, Destination, Outcome, RecordError

IMPORT_PATH = "/api/v1/api/import"
DEFAULT_BATCH_SIZE = 500  # UNKNOWN upstream: the largest batch Dmartech takes
DEFAULT_REQUESTS_PER_SECOND = 20.0  # the vendor's documented limit: 20 calls a second
SECRET_SETTING = "dmartech.secret"
RETRY_CODES = frozenset({10000})
CREDENTIAL_CODES = frozenset({10003, 20000, 20004})
REJECTED_CODES = frozenset({10001, 10002, 10004, 20001, 20002, 20003})


@dataclass
class DmartechItem:
    """One user, user deletion or event: `type` is `user`, `user_delete` or `event`."""

    type: str
    properties: dict[str, Any]
    event: str | None = None


def import_url(url: str, secret: str) -> str:
    """`url` with the import path appended when it has none, and `secret=` in its query."""
    parts = urlsplit(url.strip())
    path = parts.path if parts.path.strip("/") else IMPORT_PATH
    query = "&".join(q for q in (parts.query, f"secret={quote(secret, safe='')}") if q)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


class Dmartech(Destination):
    """Dmartech's import API."""

    name = "dmartech"
    route_types = frozenset({"user", "user_delete", "event"})
    secret_settings = frozenset({"secret"})
    route_options = frozenset(
        {
            "event_name",
            "event_name_property",
            "event_id_property",
            "create_time_property",
            "delete_missing",
        }
    )
    settings_schema = th.ObjectType(
        th.Property(
            "api_url",
            th.StringType,
            description="Data receiving URL: the import URL, or a base URL to which "
            f"{IMPORT_PATH} is appended (e.g. https://data-api.dmartech.cn)",
        ),
        th.Property("batch_url", th.StringType, description="Batch data URL (default api_url)"),
        th.Property("secret", th.StringType, secret=True, description="The import secret"),
        th.Property(
            "primary_keys",
            th.ArrayType(th.StringType),
            description="User properties configured as primary keys in Dmartech; every "
            "item must give at least one a value (checked before sending when set)",
        ),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1),
            default=DEFAULT_BATCH_SIZE,
            description="Most items in one user_batch/event_batch (largest UNKNOWN upstream)",
        ),
        th.Property("max_concurrency", th.IntegerType(minimum=1)),
        th.Property(
            "requests_per_second",
            th.NumberType,
            default=DEFAULT_REQUESTS_PER_SECOND,
            description="Dmartech allows 20 calls a second",
        ),
    )

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        for key in ("api_url", "secret"):
            if not self.settings.get(key):
                raise ConfigError(f"dmartech.{key} is required")
        secret = str(self.settings["secret"])
        self.url = import_url(str(self.settings["api_url"]), secret)
        self.batch_url = import_url(
            str(self.settings.get("batch_url") or self.settings["api_url"]), secret
        )
        self.primary_keys = tuple(self.settings.get("primary_keys") or ())
        self.size = int(self.settings.get("batch_size") or DEFAULT_BATCH_SIZE)
        if self.size < 1:
            raise ConfigError("dmartech.batch_size must be at least 1")
        self.settings.setdefault("requests_per_second", DEFAULT_REQUESTS_PER_SECOND)

    def secrets(self) -> list[str]:
        """The secret, also as it appears URL-encoded in the query string."""
        secret = str(self.settings["secret"])
        return sorted({secret, quote(secret, safe="")})

    def check_route(self, route: Route) -> None:
        super().check_route(route)
        if route.type == "event" and not (route.event_name or route.event_name_property):
            raise ConfigError(
                f"mappings: route '{route.label}' needs event_name or event_name_property"
            )

    # records -> items ----------------------------------------------------------------
    def prepare(self, route: Route, values: dict[str, Any], record: dict[str, Any]) -> Any:
        """Check and convert one record; a deleted record on a `user` route is a deletion."""
        deleted = not convert.is_empty(convert.pick(values, record, "_sdc_deleted_at"))
        kind = route.type
        if route.type == "user" and deleted:
            kind = "user_delete"
        if kind == "event":
            return self._event(route, values, record)
        props = convert.payload(values)
        if kind == "user_delete" and self.primary_keys:
            props = {k: props[k] for k in self.primary_keys if k in props}
        self._check_keys(props)
        return DmartechItem(kind, props)

    def _event(self, route: Route, values: dict[str, Any], record: dict[str, Any]) -> DmartechItem:
        name_field = route.event_name_property or "event_name"
        name = route.event_name or convert.pick(values, record, name_field)
        if convert.is_empty(name) or not isinstance(name, str | int):
            raise RecordError("missing_event_name", f"{name_field}: no event name")
        id_field = route.event_id_property or "event_id"
        time_field = route.create_time_property or "create_time"
        drop: tuple[str, ...] = (id_field, time_field, "event_id", "create_time")  # set below
        drop += () if route.event_name else (name_field,)
        props = convert.payload(values, drop=drop)
        props["event_id"] = _event_id(convert.pick(values, record, id_field), id_field)
        created = convert.pick(values, record, time_field)
        if convert.is_empty(created):
            raise RecordError("missing_create_time", f"{time_field}: required (create_time)")
        props["create_time"] = convert.datetime_text(created, time_field)
        self._check_keys(props)
        return DmartechItem("event", props, str(name).strip())

    def _check_keys(self, props: dict[str, Any]) -> None:
        if self.primary_keys:
            for key in self.primary_keys:  # a loop, not all(<generator>): it runs per record
                if not convert.is_empty(props.get(key)):
                    break
            else:
                keys = ", ".join(self.primary_keys)
                raise RecordError(
                    "missing_primary_key",
                    f"{keys}: none has a value; dmartech needs at least one primary key",
                )
        if not props:
            raise RecordError("empty_properties", "properties: nothing to send to dmartech")

    # the ledger: deletions ------------------------------------------------------------
    def is_delete(self, route: Route, item: Any) -> bool:
        kind: str = item.type
        return kind == "user_delete"

    def can_delete_missing(self, route: Route) -> bool:
        return route.type == "user"

    def delete_values(self, route: Route, item: Any) -> dict[str, Any] | None:
        """The primary-key values (all properties when `primary_keys` is not set)."""
        if item.type != "user":
            return None
        props = item.properties
        if self.primary_keys:
            return {k: props[k] for k in self.primary_keys if not convert.is_empty(props.get(k))}
        return dict(props)

    def delete_item(self, route: Route, values: dict[str, Any]) -> Any:
        return DmartechItem("user_delete", dict(values))

    # items -> calls ------------------------------------------------------------------
    def batch_key(self, route: Route, item: Any) -> Hashable:
        return (item.type, item.event)

    def batch_size(self, route: Route, key: Hashable) -> int:
        return 1 if isinstance(key, tuple) and key[0] == "user_delete" else self.size

    def build(self, route: Route, items: list[Any]) -> Call:
        first: DmartechItem = items[0]
        single = len(items) == 1
        kind = first.type if single else f"{first.type}_batch"
        body: dict[str, Any] = {"type": kind}
        if first.event is not None:
            body["event"] = first.event
        body["properties"] = first.properties if single else [i.properties for i in items]
        return Call(
            method="POST",
            url=self.url if single else self.batch_url,
            body=convert.encode(body),  # its properties are already `convert.payload`s
            headers={"Content-Type": "application/json; charset=utf-8"},
            label=kind,
        )

    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> Answer:
        """`errcode` decides (errors come with HTTP 404); 429/5xx are always transient."""
        answer = convert.transient(status, headers)
        if answer is not None:
            return answer
        code = body.get("errcode") if isinstance(body, dict) else None
        if code is None:
            return convert.http_fallback(status, self.name, SECRET_SETTING, "dmartech.api_url")
        message = str(body.get("errmsg") or "")
        if code == 0 and status < 300:
            return Answer(Outcome.OK, "0", message, data=body)
        if code in RETRY_CODES:
            return Answer(Outcome.RETRY, str(code), message)
        if code in CREDENTIAL_CODES:
            return Answer(Outcome.CREDENTIALS, str(code), message, setting=SECRET_SETTING)
        if code in REJECTED_CODES:
            return Answer(Outcome.REJECTED, str(code), message)
        if code == 0:  # errcode 0 with an error status: not a success
            return convert.http_fallback(status, self.name, SECRET_SETTING, "dmartech.api_url")
        return Answer(Outcome.REJECTED, str(code), message or "unknown errcode")


def _event_id(value: Any, field: str) -> str | int:
    """An event id: a non-empty string or an integer."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise RecordError(
        "missing_event_id", f"{field}: required (event_id), got {convert.shown(value)}"
    )
