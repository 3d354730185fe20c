"""Dmartech: users, user deletions and events, all `POST {url}?secret=...` with a `type`.

`api_url` (the "data receiving url") and `batch_url` (the "batch data interface", default
`api_url`) are either the full import URL or a base URL: a URL without a path gets
`/api/v1/api/import` appended. One-item requests go to `api_url` as `user`/`event`, larger
ones to `batch_url` as `user_batch`/`event_batch`; `user_delete` has no batch form.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import msgspec
from singer_sdk import typing as th

from target_cdp import convert
from target_cdp.answers import ResultCodes
from target_cdp.routes import MISSING, Route, path_value
from target_cdp.vendors.base import (
    EVENT_NAME_OPTIONS,
    Call,
    ConfigError,
    Destination,
    RecordError,
    require_one_of,
)

IMPORT_PATH = "/api/v1/api/import"
DEFAULT_BATCH_SIZE = 500  # UNKNOWN upstream: the largest batch Dmartech takes
DEFAULT_REQUESTS_PER_SECOND = 20.0  # the vendor's documented limit: 20 calls a second
SECRET_SETTING = "dmartech.secret"
RESULT_CODES = ResultCodes(
    vendor="dmartech",
    credentials_setting=SECRET_SETTING,
    url_setting="dmartech.api_url",
    code_field="errcode",  # errors come with HTTP 404: the code decides, not the status
    message_fields=("errmsg",),
    retry={10000: "system error"},
    credentials=dict.fromkeys((10003, 20000, 20004), SECRET_SETTING),
    rejected=frozenset({10001, 10002, 10004, 20001, 20002, 20003}),
)
DATETIME = convert.datetime_text
"""Dmartech's date-time format (`create_time` and date-time properties): `YYYY-MM-DD HH:MM:SS`."""
EVENT_OPTIONS = th.PropertiesList(
    *EVENT_NAME_OPTIONS,
    th.Property(
        "event_id_property",
        th.StringType,
        description="The record field holding event_id (default: event_id)",
    ),
    th.Property(
        "create_time_property",
        th.StringType,
        description="The record field holding create_time (default: create_time); sent as "
        "YYYY-MM-DD HH:MM:SS UTC",
    ),
)


class DmartechItem(msgspec.Struct):
    """One user, user deletion or event: `type` is `user`, `user_delete` or `event` (a struct:
    made in C, once a record; encoded, and so fingerprinted, as the dataclass it was)."""

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
    route_options = {  # a `user` record whose `_sdc_deleted_at` is set is sent as a deletion
        "user": th.PropertiesList(),
        "user_delete": th.PropertiesList(),
        "event": EVENT_OPTIONS,
    }
    result_codes = RESULT_CODES
    secret_settings = frozenset({"secret"})
    required_settings = ("api_url", "secret")
    record_metadata = frozenset({"_sdc_deleted_at"})
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
        secret = str(self.settings["secret"])
        self.url = import_url(str(self.settings["api_url"]), secret)
        self.batch_url = import_url(
            str(self.settings.get("batch_url") or self.settings["api_url"]), secret
        )
        self.primary_keys = tuple(self.settings.get("primary_keys") or ())
        self.size = int(self.settings["batch_size"])
        if self.size < 1:
            raise ConfigError("dmartech.batch_size must be at least 1")

    def secrets(self) -> list[str]:
        """The secret, also as it appears URL-encoded in the query string."""
        secret = str(self.settings["secret"])
        return sorted({secret, quote(secret, safe="")})

    def check_route(self, route: Route) -> None:
        super().check_route(route)
        if route.type == "event":
            require_one_of(route, "event_name", "event_name_property")

    # records -> items ----------------------------------------------------------------
    def prepare(self, route: Route, values: dict[str, Any], record: dict[str, Any]) -> Any:
        """Check and convert one record; a deleted record on a `user` route is a deletion."""
        deleted = not convert.is_empty(convert.pick(values, record, "_sdc_deleted_at"))
        kind = route.type
        if route.type == "user" and deleted:
            kind = "user_delete"
        if kind == "event":
            return self._event(route, values, record)
        props = convert.payload(values, datetimes=DATETIME)
        if kind == "user_delete" and self.primary_keys:
            props = {k: props[k] for k in self.primary_keys if k in props}
        self._check_keys(props)
        return DmartechItem(kind, props)

    def preparer(self, route: Route) -> Callable[[dict[str, Any]], Any]:
        """`prepare` in one pass per record: an event route with `fields` projects and builds
        its properties together; a `user` route without `fields` reads the record itself (no
        copy). Same items and errors as `project` + `prepare`."""
        if route.type == "event" and route.fields:
            return self._event_preparer(route)
        if route.type == "user" and route.fields is None:
            return self._user_preparer(route)
        return super().preparer(route)

    def _user_preparer(self, route: Route) -> Callable[[dict[str, Any]], Any]:
        slow = super().preparer(route)  # deletions
        payload, is_empty, check = convert.payload, convert.is_empty, self._check_keys

        def prepared(record: dict[str, Any]) -> Any:
            deleted = record.get("_sdc_deleted_at")
            if deleted is not None and not is_empty(deleted):
                return slow(record)
            props = payload(record, datetimes=DATETIME)  # `_sdc_*` skipped: nothing to pop
            check(props)
            return DmartechItem("user", props)

        return prepared

    def _event_preparer(self, route: Route) -> Callable[[dict[str, Any]], Any]:
        options = route.options
        fixed = options.get("event_name")
        name_field = options.get("event_name_property") or "event_name"
        id_field = options.get("event_id_property") or "event_id"
        time_field = options.get("create_time_property") or "create_time"
        drop = {id_field, time_field, "event_id", "create_time"}
        drop |= set() if fixed else {name_field}
        picked = {id_field, time_field} | (set() if fixed else {name_field})  # read by `pick`
        # read for `pick` (all of them in `drop`: never sent as they are)
        picks = tuple((t, src, parts) for t, src, parts in route.paths if t in picked)
        sends = tuple(  # (target, source, parts, the head and leaf of an `object.property`)
            (target, source, parts, *(parts if parts and len(parts) == 2 else (None, None)))
            for target, source, parts in route.paths
            if not (target in drop or target.startswith("_sdc_"))
        )  # fmt: skip
        pick, is_empty = convert.pick, convert.is_empty
        plain, plain_str = convert.plain, convert.plain_str
        check = self._check_keys

        def prepared(record: dict[str, Any]) -> DmartechItem:
            values: dict[str, Any] = {}  # what `route.project` gives that `pick` reads
            for target, source, parts in picks:
                if source in record:
                    values[target] = record[source]
                elif parts is not None:
                    value = path_value(record, source, parts)
                    if value is not MISSING:
                        values[target] = value
            props: dict[str, Any] = {}  # what `convert.payload` makes of it, in the same pass
            for target, source, parts, head_name, leaf in sends:
                if source in record:
                    value = record[source]
                elif parts is None:
                    continue
                else:
                    head = record.get(head_name) if head_name is not None else None
                    if type(head) is dict:  # `path_value`, inline for the usual dotted path
                        value = head.get(leaf, MISSING)
                    else:
                        value = path_value(record, source, parts)
                    if value is MISSING:
                        continue
                kind = type(value)
                if kind is str:
                    if not value or value.isspace():
                        continue
                    props[target] = value if len(value) < 16 else plain_str(value, DATETIME)
                elif kind is int or kind is bool:
                    props[target] = value
                elif not is_empty(value):
                    props[target] = plain(value, DATETIME)
            if fixed:
                name, _ = convert.event_name(options, values, record)
            else:
                name = pick(values, record, name_field)
                if type(name) is str and name and not name.isspace():
                    name = name.strip()
                else:
                    name, _ = convert.event_name(options, values, record)  # or its error
            event_id = pick(values, record, id_field)
            if type(event_id) is str and event_id and not event_id.isspace():
                props["event_id"] = event_id.strip()
            else:
                props["event_id"] = _event_id(event_id, id_field)
            created = pick(values, record, time_field)
            if is_empty(created):
                raise RecordError("missing_create_time", f"{time_field}: required (create_time)")
            props["create_time"] = DATETIME(created, time_field)
            check(props)
            return DmartechItem("event", props, name)

        return prepared

    def _event(self, route: Route, values: dict[str, Any], record: dict[str, Any]) -> DmartechItem:
        options = route.options
        name, name_field = convert.event_name(options, values, record)
        id_field = options.get("event_id_property") or "event_id"
        time_field = options.get("create_time_property") or "create_time"
        drop: tuple[str, ...] = (id_field, time_field, "event_id", "create_time")  # set below
        drop += () if name_field is None else (name_field,)
        props = convert.payload(values, drop=drop, datetimes=DATETIME)
        props["event_id"] = _event_id(convert.pick(values, record, id_field), id_field)
        created = convert.pick(values, record, time_field)
        if convert.is_empty(created):
            raise RecordError("missing_create_time", f"{time_field}: required (create_time)")
        props["create_time"] = DATETIME(created, time_field)
        self._check_keys(props)
        return DmartechItem("event", props, name)

    def _check_keys(self, props: dict[str, Any]) -> None:
        if self.primary_keys:
            for key in self.primary_keys:  # a loop, not all(<generator>): it runs per record
                value = props.get(key)
                if value is not None and not convert.is_empty(value):
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


DESTINATION = Dmartech
