"""EngageLab MA: users (contacts and `set` properties) and events, keyed by `euid`.

Every batch first resolves its identities to euids with `POST /v1/user/register` (at most
100 values a call). A `user` then costs one `/v1/user/contact` call (contact fields, as
strings) and one `/v1/user/property` call (the rest, type `set`); a batch of events is one
`/v1/event/report` call. Empty values are dropped, never sent (the vendor refuses them).

Code 0 means "success or partial success" (the return-parameter tables of every MA page), but
EngageLab documents no shape for the failed part: its "all failed" example is the same
`{"code": 0, "message": "success"}`. So a code-0 answer carrying anything beyond that (another
message, unexpected keys, `data` where none is expected) is logged as one warning with the
answer; its records still count as delivered, as nothing says which of them failed.
With a delivery ledger the euids are remembered per identity value (`Destination.ids`), so a
rerun registers only identities it has not seen. An euid refused as invalid (55108: e.g. the
data source was reset) is forgotten and resolved again, once.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from singer_sdk import typing as th

from target_cdp import convert
from target_cdp.answers import Answer, Outcome, ResultCodes
from target_cdp.routes import Route
from target_cdp.vendors.base import (
    EVENT_NAME_OPTIONS,
    Call,
    ConfigError,
    Destination,
    RecordError,
    Refused,
    Rejections,
    Send,
    require_one_of,
)

DEFAULT_BASE_URL = "https://ma-api.engagelab.com"
IDENTITY_NAMES = ("user_id", "anonymous_id", "registration_id")
MAX_IDENTITIES = 100  # values per /v1/user/register call
MAX_IDENTITY_LENGTH = 256
DEFAULT_BATCH_SIZE = 100  # UNKNOWN upstream: the largest event report
CONTACT_KEYS = ("mobile_phone", "email", "whatsapp", "line", "registration_id", "telegram", "zalo")
CREDENTIALS_SETTING = "engagelab.api_key, engagelab.api_secret"
RESULT_CODES = ResultCodes(
    vendor="engagelab",
    credentials_setting=CREDENTIALS_SETTING,
    url_setting="engagelab.base_url",
    retry={-1: "server error"},
    credentials=dict.fromkeys((40050, 50031, 50034, 50074), CREDENTIALS_SETTING),
    rejected=frozenset({40007, 55004, 55101, 55102, 55103, 55105, 55106, 55107, 55108}),
)
DATETIME = convert.datetime_text
"""EngageLab's date-time properties: `YYYY-MM-DD HH:MM:SS` (attribute setup page)."""
IDENTITY_OPTION = th.Property(
    "identity_property",
    th.StringType,
    description="The record field holding the identity resolved to an euid (default: "
    "engagelab.identity_name)",
)
ROUTE_OPTIONS = {
    "user": th.PropertiesList(IDENTITY_OPTION),
    "event": th.PropertiesList(
        IDENTITY_OPTION,
        *EVENT_NAME_OPTIONS,
        th.Property(
            "event_id_property",
            th.StringType,
            description="The record field holding random_id, the report id (default: "
            "random_id, else id)",
        ),
        th.Property(
            "time_property",
            th.StringType,
            description="The record field holding itime (default: itime); sent as epoch "
            "milliseconds",
        ),
    ),
}
SUCCESS_KEYS = frozenset({"code", "message", "traceId", "trace_id", "request_id"})
SUCCESS_MESSAGES = frozenset({"", "success", "ok"})
_SHOWN = 1000  # characters of an answer shown in a warning

logger = logging.getLogger("target-cdp")


def beyond_success(body: Any, expects_data: bool) -> bool:
    """Whether a code-0 answer says more than plain success (a possible partial success)."""
    if not isinstance(body, dict):
        return False
    extra = set(body) - SUCCESS_KEYS
    if expects_data or body.get("data") in (None, "", [], {}):
        extra.discard("data")
    message = str(body.get("message") or "").strip().lower()
    return bool(extra) or message not in SUCCESS_MESSAGES


def warn_beyond_success(label: str, answer: Answer, expects_data: bool = False) -> None:
    """One warning with the answer when a success may have been a partial success."""
    if answer.outcome is Outcome.OK and beyond_success(answer.data, expects_data):
        shown = convert.dumps(answer.data).decode("utf-8", "replace")[:_SHOWN]
        logger.warning(
            "engagelab %s: code 0 (success or partial success) carries more than success; "
            "EngageLab documents no shape for failed items, so the batch counts as delivered: %s",
            label,
            shown,
        )


INVALID_EUID = "55108"


@dataclass
class LabUser:
    """One user: its identity value, contact strings and properties to `set`."""

    identity: str
    contacts: dict[str, str] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabEvent:
    """One event: its user's identity value and the report entry (without `euid`)."""

    identity: str
    entry: dict[str, Any]


class EngageLab(Destination):
    """EngageLab Marketing Automation REST API."""

    name = "engagelab"
    route_options = ROUTE_OPTIONS
    result_codes = RESULT_CODES
    secret_settings = frozenset({"api_key", "api_secret"})
    required_settings = ("api_key", "api_secret")
    settings_schema = th.ObjectType(
        th.Property("base_url", th.StringType, default=DEFAULT_BASE_URL),
        th.Property("api_key", th.StringType, secret=True, description="API data source key"),
        th.Property("api_secret", th.StringType, secret=True),
        th.Property(
            "identity_name",
            th.StringType(allowed_values=list(IDENTITY_NAMES)),
            default="user_id",
            description="The identity records carry (routes read it from identity_property)",
        ),
        th.Property(
            "batch_size",
            th.IntegerType(minimum=1),
            default=DEFAULT_BATCH_SIZE,
            description="Most events in one report (users: also at most 100 a batch)",
        ),
        th.Property(
            "contact_keys",
            th.ArrayType(th.StringType),
            default=list(CONTACT_KEYS),
            description="Record fields sent to /v1/user/contact; the rest are properties",
        ),
        th.Property("max_concurrency", th.IntegerType(minimum=1)),
        th.Property("requests_per_second", th.NumberType),
    )

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.base_url = str(self.settings["base_url"]).rstrip("/")
        self.identity_name = str(self.settings["identity_name"])
        if self.identity_name not in IDENTITY_NAMES:
            raise ConfigError(f"engagelab.identity_name must be one of {', '.join(IDENTITY_NAMES)}")
        self.size = int(self.settings["batch_size"])
        if self.size < 1:
            raise ConfigError("engagelab.batch_size must be at least 1")
        self.contact_keys = tuple(self.settings["contact_keys"])
        pair = f"{self.settings['api_key']}:{self.settings['api_secret']}"
        self.token = base64.b64encode(pair.encode("utf-8")).decode("ascii")

    def secrets(self) -> list[str]:
        """The key, the secret and the basic-auth token made of them."""
        return [*super().secrets(), self.token]

    def check_route(self, route: Route) -> None:
        super().check_route(route)
        if route.type == "event":
            require_one_of(route, "event_name", "event_name_property")

    # records -> items ----------------------------------------------------------------
    def prepare(self, route: Route, values: dict[str, Any], record: dict[str, Any]) -> Any:
        id_field = route.options.get("identity_property") or self.identity_name
        identity = _identity(convert.pick(values, record, id_field), id_field)
        if route.type == "event":
            return LabEvent(identity, self._event(route, values, record, id_field))
        props = convert.payload(values, drop=(id_field,), datetimes=DATETIME)
        contacts = {
            key: convert.text(props.pop(key), key) for key in self.contact_keys if key in props
        }
        return LabUser(identity, {k: v for k, v in contacts.items() if v}, props)

    def _event(
        self, route: Route, values: dict[str, Any], record: dict[str, Any], id_field: str
    ) -> dict[str, Any]:
        options = route.options
        name, name_field = convert.event_name(options, values, record)
        time_field = options.get("time_property") or "itime"
        when = convert.pick(values, record, time_field)
        if convert.is_empty(when):
            raise RecordError("missing_time", f"{time_field}: required (itime)")
        event_field = options.get("event_id_property") or "random_id"
        random_id = convert.pick(values, record, event_field)
        if random_id is None and not options.get("event_id_property"):
            event_field = "id"
            random_id = convert.pick(values, record, event_field)
        drop = (id_field, time_field, event_field) + (() if name_field is None else (name_field,))
        entry: dict[str, Any] = {"event_name": name, "itime": convert.epoch_ms(when, time_field)}
        if not convert.is_empty(random_id):
            entry["random_id"] = convert.text(random_id, event_field)
        entry["properties"] = convert.payload(values, drop=drop, datetimes=DATETIME)
        return entry

    # items -> calls ------------------------------------------------------------------
    def batch_key(self, route: Route, item: Any) -> Hashable:
        return route.type

    def batch_size(self, route: Route, key: Hashable) -> int:
        return min(self.size, MAX_IDENTITIES) if route.type == "user" else self.size

    def call(self, path: str, body: Any, label: str, dry_run_reply: Any = None) -> Call:
        """A POST to `path` with basic auth."""
        return Call(
            method="POST",
            url=f"{self.base_url}{path}",
            body=convert.dumps(body),
            headers={
                "Authorization": f"Basic {self.token}",
                "Content-Type": "application/json; charset=utf-8",
            },
            label=label,
            sensitive_headers=frozenset({"Authorization"}),
            dry_run_reply=dry_run_reply,
        )

    def build(self, route: Route, items: list[Any]) -> Call:
        """The first request of a batch: the euid lookup of its (first 100) identities."""
        return self._register(_unique(i.identity for i in items)[:MAX_IDENTITIES])

    def _register(self, values: list[str]) -> Call:
        body = {"identity_name": self.identity_name, "identity_values": values}
        fake = {  # in dry run, made-up euids let the later calls be written out too
            "code": 0,
            "message": "success",  # dry run: no answer to report on
            "data": [{"identity_value": v, "euid": n} for n, v in enumerate(values, 1)],
        }
        return self.call("/v1/user/register", body, "register", dry_run_reply=fake)

    def deliver(self, route: Route, items: list[Any], send: Send) -> Rejections:
        """Resolve euids, then send contacts and properties per user, or one event report."""
        euids, remembered = self._euids(items, send)
        rejections: Rejections = []
        reportable: list[tuple[LabEvent, int]] = []
        stale: list[tuple[int, LabUser]] = []  # users refused for a remembered euid
        for index, item in enumerate(items):
            euid = euids.get(item.identity)
            if euid is None:
                message = f"register returned no euid for this {self.identity_name}"
                rejections.append((index, Answer(Outcome.REJECTED, "no_euid", message)))
            elif isinstance(item, LabEvent):
                reportable.append((item, euid))
            else:
                answer = self._send_user(item, euid, send)
                if answer is None:
                    continue
                if answer.code == INVALID_EUID and item.identity in remembered:
                    stale.append((index, item))
                else:
                    rejections.append((index, answer))
        if stale:  # resolve remembered euids again, once
            fresh = self._renew([user.identity for _, user in stale], send)
            for index, user in stale:
                euid = fresh.get(user.identity)
                answer = None if euid is None else self._send_user(user, euid, send)
                if euid is None:
                    message = f"register returned no euid for this {self.identity_name}"
                    answer = Answer(Outcome.REJECTED, "no_euid", message)
                if answer is not None:
                    rejections.append((index, answer))
        if reportable:
            answer = send(self._report(reportable))
            used = {event.identity for event, _ in reportable} & remembered
            if answer.outcome is Outcome.REJECTED and answer.code == INVALID_EUID and used:
                fresh = self._renew(sorted(used), send)
                reportable = [(e, fresh.get(e.identity, euid)) for e, euid in reportable]
                answer = send(self._report(reportable))
            if answer.outcome is Outcome.REJECTED:
                raise Refused(answer)
            warn_beyond_success("event_report", answer)
        return rejections

    def _report(self, events: list[tuple[LabEvent, int]]) -> Call:
        data = [{"euid": euid, **event.entry} for event, euid in events]
        return self.call("/v1/event/report", {"data": data}, "event_report")

    @property
    def _namespace(self) -> str:
        """Where remembered euids live: one data source (base URL) and identity name."""
        return f"engagelab euid {self.base_url} {self.identity_name}"

    def _euids(self, items: list[Any], send: Send) -> tuple[dict[str, int], set[str]]:
        """identity value -> euid (remembered ones first), and the values that were
        remembered; Refused when a lookup is refused for its data."""
        identities = _unique(item.identity for item in items)
        euids: dict[str, int] = {}
        if self.ids is not None:
            for value, euid in self.ids.recall(self._namespace, identities).items():
                euids[value] = int(euid) if euid.lstrip("-").isdigit() else euid  # type: ignore[assignment]  # kept as recalled
        remembered = set(euids)
        missing = [value for value in identities if value not in euids]
        fresh = self._register_all(missing, send)
        if self.ids is not None and fresh:
            self.ids.remember(self._namespace, fresh)
        euids.update(fresh)
        return euids, remembered

    def _renew(self, identities: list[str], send: Send) -> dict[str, int]:
        """Forget remembered euids the vendor refused and register their values again."""
        values = _unique(identities)
        if self.ids is not None:
            self.ids.forget(self._namespace, values)
        fresh = self._register_all(values, send)
        if self.ids is not None and fresh:
            self.ids.remember(self._namespace, fresh)
        return fresh

    def _register_all(self, identities: list[str], send: Send) -> dict[str, int]:
        """`/v1/user/register` for these values, 100 a call."""
        euids: dict[str, int] = {}
        for start in range(0, len(identities), MAX_IDENTITIES):
            answer = send(self._register(identities[start : start + MAX_IDENTITIES]))
            if answer.outcome is Outcome.REJECTED:
                raise Refused(answer)
            warn_beyond_success("register", answer, expects_data=True)
            data = answer.data.get("data") if isinstance(answer.data, dict) else answer.data
            for entry in data if isinstance(data, list) else []:
                if isinstance(entry, dict) and entry.get("euid") not in (None, ""):
                    euids[str(entry.get("identity_value"))] = entry["euid"]
        return euids

    def _send_user(self, user: LabUser, euid: int, send: Send) -> Answer | None:
        """Contacts then properties; the refusing answer, or None when all went through."""
        calls = []
        if user.contacts:
            body = {"euid": euid, "contacts": user.contacts}
            calls.append(self.call("/v1/user/contact", body, "contact"))
        if user.properties:
            body = {"euid": euid, "type": "set", "properties": user.properties}
            calls.append(self.call("/v1/user/property", body, "property"))
        for call in calls:
            answer = send(call)
            if answer.outcome is Outcome.REJECTED:
                return answer
            warn_beyond_success(call.label, answer)
        return None


def _identity(value: Any, field: str) -> str:
    """The identity value (the first non-empty one of a list): non-empty, ≤256 characters."""
    if isinstance(value, list | tuple):
        value = next((v for v in value if not convert.is_empty(v)), None)
    if convert.is_empty(value):
        raise RecordError("missing_identity", f"{field}: empty; engagelab needs it for the euid")
    return convert.check_length(field, convert.text(value, field), MAX_IDENTITY_LENGTH, "engagelab")


def _unique(values: Any) -> list[str]:
    """Values in first-seen order, without repeats."""
    return list(dict.fromkeys(values))


DESTINATION = EngageLab
