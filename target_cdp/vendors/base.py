"""The one small interface every destination implements.

A destination turns records into calls and answers into outcomes; it never sends, retries,
batches, splits, dead-letters or counts: the generic delivery code does that for every vendor.

It declares (class attributes):
    name                                        settings key and route `destination`
    settings_schema, required_settings, secret_settings
    route_options                               route type -> JSON schema of its options,
                                                checked by `check_route`, read from `route.options`
    result_codes                                what its answers mean (`answers.ResultCodes`)
    record_metadata                             Singer `_sdc_*` fields `prepare` reads

and implements:
    prepare(route, values, record) -> item      convert + check one record (RecordError if hopeless)
    preparer(route) -> (record -> item)         optional: `fields` + `prepare` as one function per
                                                route (default: `route.project`, then `prepare`)
    batch_key(route, item) -> key               items with equal keys may share a request
    batch_size(route, key) -> int               the most items one request may carry
    build(route, items) -> Call                 one request for a batch (body serialized once)
    sign(call) -> headers                       per-attempt headers (fresh timestamp, signature)
    classify(status, body, headers) -> Answer   default: `result_codes.classify`
    deliver(route, items, send) -> rejections   default: one call per batch; override for
                                                multi-step vendors (EngageLab's euid lookup)

With a delivery ledger (all optional, defaults below):
    diff_route_types                            route types diffed unless the route says
    is_delete(route, item) -> bool              the item deletes its key at the destination
    can_delete_missing(route) -> bool           the route may mirror deletions
    delete_values(route, item) -> dict | None   what a later delete of this key needs
    delete_item(route, values) -> item          a delete built from those values
    ids: IdMemory | None                        remembered identifiers (EngageLab's euids)

A vendor module names its class in `DESTINATION` (see `target_cdp.vendors`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import fastjsonschema
from singer_sdk import typing as th

from target_cdp.answers import Answer, Outcome, ResultCodes
from target_cdp.convert import RecordError
from target_cdp.routes import COMMON_KEYS, Route

__all__ = [
    "Answer",
    "Call",
    "ConfigError",
    "Destination",
    "IdMemory",
    "Outcome",
    "RecordError",
    "Refused",
    "Rejections",
    "Send",
]


@dataclass
class Call:
    """One HTTP request. `body` is the exact bytes sent (and signed)."""

    method: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    label: str = ""  # e.g. "event_batch", for logs and dry-run output
    sensitive_headers: frozenset[str] = frozenset()  # values redacted in any output
    dry_run_reply: Any = None  # what `send` returns as `Answer.data` in dry-run mode


class ConfigError(Exception):
    """A setting or route that cannot work; the message names the setting."""


class Refused(Exception):
    """The whole batch was refused for its data: the caller splits it to find the culprits."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(f"{answer.code}: {answer.message}")
        self.answer = answer


Send = Callable[[Call], Answer]
"""Signs, sends and retries a call; returns an OK or REJECTED answer.

Raises `target_cdp.delivery.StopDelivery` on credential failures or exhausted retries."""

Rejections = list[tuple[int, Answer]]
"""Items (by index in the batch) refused one by one, with the answer that refused them."""


class IdMemory(Protocol):
    """Identifiers a destination handed out, remembered across runs (one query per call)."""

    def recall(self, namespace: str, values: list[str]) -> dict[str, str]: ...
    def remember(self, namespace: str, ids: Mapping[str, Any]) -> None: ...
    def forget(self, namespace: str, values: list[str]) -> None: ...


RouteOptions = Mapping[str, th.PropertiesList]
"""Route type -> the options its routes take besides `routes.COMMON_KEYS` (a JSON schema)."""


class Destination:
    """Base class of a vendor module's destination. Subclasses set the class attributes."""

    name: ClassVar[str]  # the settings key and route `destination` value: "dmartech"
    route_options: ClassVar[RouteOptions]  # its route types, each with its options
    result_codes: ClassVar[ResultCodes]  # what its answers mean (`classify`)
    secret_settings: ClassVar[frozenset[str]] = frozenset()  # setting names holding secrets
    required_settings: ClassVar[tuple[str, ...]] = ()  # setting names that must have a value
    # this vendor's settings object (secret=True on secrets)
    settings_schema: ClassVar[th.ObjectType]
    # Singer metadata (`_sdc_*`) that `prepare` reads from records; the rest is stripped
    record_metadata: ClassVar[frozenset[str]] = frozenset()
    # route types whose records are diffed against the ledger unless the route sets `diff`
    diff_route_types: ClassVar[frozenset[str]] = frozenset({"user", "customer", "user_delete"})
    ids: IdMemory | None = None  # set by the target when a ledger is on

    def __init__(self, settings: Mapping[str, Any]) -> None:
        """Keep the vendor's settings object, with the defaults of `settings_schema` filled
        in; raise ConfigError naming a missing required setting."""
        self.settings = dict(settings)
        for key, prop in self.settings_schema.to_dict().get("properties", {}).items():
            if self.settings.get(key) in (None, "") and prop.get("default") is not None:
                self.settings[key] = prop["default"]
        for key in self.required_settings:
            if self.settings.get(key) in (None, ""):
                raise ConfigError(f"{self.name}.{key} is required")

    def secrets(self) -> list[str]:
        """Secret values (and values derived from them) to redact from every output."""
        return [str(self.settings[k]) for k in self.secret_settings if self.settings.get(k)]

    def check_route(self, route: Route) -> None:
        """Raise ConfigError when a route of this destination cannot work: a type it does not
        have, an option its type does not take, or an option of the wrong kind."""
        if route.type not in self.route_options:
            raise ConfigError(
                f"mappings: route for stream '{route.stream}' has type '{route.type}'; "
                f"{self.name} supports {sorted(self.route_options)}"
            )
        schema = self.route_options[route.type].to_dict()
        allowed = COMMON_KEYS | set(schema["properties"])
        unknown = sorted(set(route.options) - allowed)
        if unknown:
            raise ConfigError(
                f"mappings: route '{route.label}' has an unknown key '{unknown[0]}' "
                f"({self.name} {route.type} routes take: {', '.join(sorted(allowed))})"
            )
        try:
            _option_check(type(self), route.type)(dict(route.options))
        except fastjsonschema.JsonSchemaValueException as exc:
            text = exc.message.replace("data.", "option ", 1).replace("data ", "options ", 1)
            raise ConfigError(f"mappings: route '{route.label}': {text}") from None

    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> Answer:
        """Turn an HTTP answer (body parsed as JSON when it is JSON) into an `Answer`."""
        return self.result_codes.classify(status, body, headers)

    def prepare(self, route: Route, values: dict[str, Any], record: dict[str, Any]) -> Any:
        """Convert one record into the vendor's item; `values` has `fields` applied."""
        raise NotImplementedError

    def preparer(self, route: Route) -> Callable[[dict[str, Any]], Any]:
        """`prepare` for one route as a function of the record, built once per route: the
        route's `fields` applied (the `record_metadata` kept in the record for `prepare` to
        read). A vendor may return a faster function giving the same items and errors."""
        metadata = tuple(self.record_metadata)
        project, prepare = route.project, self.prepare
        whole = route.fields is None

        def prepared(record: dict[str, Any]) -> Any:
            values = project(record)
            if whole:
                for name in metadata:
                    values.pop(name, None)
            return prepare(route, values, record)

        return prepared

    def batch_key(self, route: Route, item: Any) -> Hashable:
        """Items with equal keys can share one request (default: all of a route's items)."""
        return route.type

    def batch_size(self, route: Route, key: Hashable) -> int:
        """The most items one request may carry."""
        raise NotImplementedError

    def build(self, route: Route, items: list[Any]) -> Call:
        """One request carrying `items` (all with the same batch key)."""
        raise NotImplementedError

    def sign(self, call: Call) -> dict[str, str]:
        """Headers to add for one attempt (default: none)."""
        return {}

    # the ledger -----------------------------------------------------------------------
    def is_delete(self, route: Route, item: Any) -> bool:
        """True when `item` deletes its key at the destination."""
        return False

    def can_delete_missing(self, route: Route) -> bool:
        """True when the route can mirror deletions (`delete_missing`)."""
        return False

    def delete_values(self, route: Route, item: Any) -> dict[str, Any] | None:
        """What a later delete of this item's key needs (kept in the ledger)."""
        return None

    def delete_item(self, route: Route, values: dict[str, Any]) -> Any:
        """An item deleting the key `delete_values` described."""
        raise NotImplementedError

    def deliver(self, route: Route, items: list[Any], send: Send) -> Rejections:
        """Deliver one batch; raise `Refused` when the batch as a whole was refused."""
        answer = send(self.build(route, items))
        if answer.outcome is Outcome.REJECTED:
            raise Refused(answer)
        return []


EVENT_NAME_OPTIONS = (
    th.Property(
        "event_name",
        th.StringType,
        description="A fixed event name for every record (this or event_name_property is required)",
    ),
    th.Property(
        "event_name_property",
        th.StringType,
        description="The record field holding the event name",
    ),
)
"""The route options `convert.event_name` reads, for a vendor's `event` route schema."""


def require_one_of(route: Route, *names: str) -> None:
    """ConfigError unless the route sets one of these options."""
    if not any(route.options.get(name) for name in names):
        raise ConfigError(f"mappings: route '{route.label}' needs {' or '.join(names)}")


_OPTION_CHECKS: dict[tuple[type[Destination], str], Callable[[Any], Any]] = {}


def _option_check(cls: type[Destination], route_type: str) -> Callable[[Any], Any]:
    """The compiled check of one route type's options (once per class and type)."""
    check = _OPTION_CHECKS.get((cls, route_type))
    if check is None:
        schema = cls.route_options[route_type].to_dict()
        schema.pop("$schema", None)  # fastjsonschema reads draft 7 and older
        check = fastjsonschema.compile(schema, use_default=False, use_formats=False)
        _OPTION_CHECKS[(cls, route_type)] = check
    return check
