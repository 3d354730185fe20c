"""NXCloud (NXLINK CDP): customers, `POST {base_url}{path}` in signed batches of at most 100.

The body `{"type": merge_type, "tenant_id", "app_key", "customers": [...]}` is serialized once;
`sign` adds fresh `ts`/`sign` headers for every attempt (see `signing`). Record fields that are
not customer fields go into `customize_field` (a JSON string) unless `extra_fields` is `drop`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import Any

from singer_sdk import typing as th

from target_cdp import convert
from target_cdp.answers import ResultCodes
from target_cdp.routes import Route
from target_cdp.vendors.base import Call, ConfigError, Destination, RecordError
from target_cdp.vendors.signing import nxcloud_sign

DEFAULT_BASE_URL = "https://api-hk.nxlink.ai"
DEFAULT_PATH = "/saas/sea/cdp/openapi/customers/batch_create"
MAX_BATCH = 100
VENDOR = "nxcloud"
# Text fields and their length limits (None: no documented limit).
TEXT_LIMITS: dict[str, int | None] = {
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
    "time_zone": None,
    "source": None,
}
GENDERS = {"1": 1, "0": 0, "male": 1, "female": 0, "m": 1, "f": 0}
SIGN_SETTING = "nxcloud.access_key, nxcloud.access_secret"
PERMISSION_SETTING = "nxcloud.tenant_id, nxcloud.app_key, nxcloud.access_key"
RESULT_CODES = ResultCodes(
    vendor=VENDOR,
    credentials_setting=SIGN_SETTING,
    url_setting="nxcloud.base_url",
    message_fields=("message", "msg"),
    retry={1004: "timestamp expired"},  # retried with a fresh signature
    credentials={1003: SIGN_SETTING, 1005: PERMISSION_SETTING},
    rejected=frozenset({1001, 1002}),
)
DATETIME = convert.datetime_text
"""Date-times inside `customize_field` (NXCloud documents none: the other vendors' format)."""


class NXCloud(Destination):
    """NXCloud's customer batch-create API."""

    name = VENDOR
    route_options = {"customer": th.PropertiesList()}  # customer routes take only `fields`
    result_codes = RESULT_CODES
    secret_settings = frozenset({"access_key", "access_secret"})
    required_settings = ("access_key", "access_secret", "tenant_id", "app_key")
    settings_schema = th.ObjectType(
        th.Property("base_url", th.StringType, default=DEFAULT_BASE_URL),
        th.Property("path", th.StringType, default=DEFAULT_PATH),
        th.Property("access_key", th.StringType, secret=True),
        th.Property("access_secret", th.StringType, secret=True),
        th.Property("tenant_id", th.IntegerType),
        th.Property("app_key", th.StringType),
        th.Property(
            "merge_type",
            th.IntegerType(allowed_values=[0, 1, 2]),
            default=1,
            description="0 replace old data, 1 update/add onto old, 2 keep old, drop new",
        ),
        th.Property("batch_size", th.IntegerType(minimum=1, maximum=MAX_BATCH), default=MAX_BATCH),
        th.Property(
            "api_version",
            th.IntegerType(allowed_values=[1, 2]),
            default=1,
            description="1: first_name and last_name required; 2: full_name required",
        ),
        th.Property(
            "extra_fields",
            th.StringType(allowed_values=["customize_field", "drop"]),
            default="customize_field",
            description="Record fields that are not customer fields: into customize_field, "
            "or dropped",
        ),
        th.Property("max_concurrency", th.IntegerType(minimum=1)),
        th.Property("requests_per_second", th.NumberType),
    )

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        try:
            self.tenant_id = int(self.settings["tenant_id"])
        except (TypeError, ValueError) as exc:
            raise ConfigError("nxcloud.tenant_id must be an integer") from exc
        self.merge_type = self._choice("merge_type", (0, 1, 2))
        self.api_version = self._choice("api_version", (1, 2))
        self.size = self._choice("batch_size", range(1, MAX_BATCH + 1))
        self.extra = str(self.settings["extra_fields"])
        if self.extra not in ("customize_field", "drop"):
            raise ConfigError("nxcloud.extra_fields must be customize_field or drop")
        base = str(self.settings["base_url"]).rstrip("/")
        path = str(self.settings["path"])
        self.url = base + (path if path.startswith("/") else f"/{path}")
        self.required = ("full_name",) if self.api_version == 2 else ("first_name", "last_name")

    def _choice(self, key: str, allowed: Any) -> int:
        value: Any = self.settings.get(key)
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = -1
        if number not in allowed:
            raise ConfigError(f"nxcloud.{key}: {value!r} is not allowed")
        return number

    # records -> items ----------------------------------------------------------------
    def prepare(self, route: Route, values: dict[str, Any], record: dict[str, Any]) -> Any:
        """One customer object, checked against the documented limits."""
        values = {
            k: v for k, v in values.items() if not k.startswith("_sdc_") and not convert.is_empty(v)
        }
        if self.api_version == 2 and "full_name" not in values:
            names = [values.get("first_name"), values.get("last_name")]
            joined = " ".join(convert.text(n, "full_name") for n in names if n is not None)
            if joined.strip():
                values["full_name"] = joined
        customer: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        for key, value in values.items():
            if key in TEXT_LIMITS:
                customer[key] = _text(key, value, TEXT_LIMITS[key])
            elif key == "birthday":
                customer[key] = convert.date_text(value, key)
            elif key == "gender":
                customer[key] = _gender(value)
            elif key == "tagStr":
                customer[key] = _tags(value)
            elif key != "customize_field":
                extras[key] = value
        for key in self.required:
            if not customer.get(key):
                raise RecordError("missing_field", f"{key}: required by {VENDOR}")
        custom = _custom(values.get("customize_field"), extras if self.extra != "drop" else {})
        if custom is not None:
            customer["customize_field"] = custom
        return customer

    # items -> calls ------------------------------------------------------------------
    def batch_key(self, route: Route, item: Any) -> Hashable:
        return route.type

    def batch_size(self, route: Route, key: Hashable) -> int:
        return self.size

    def build(self, route: Route, items: list[Any]) -> Call:
        body = {
            "type": self.merge_type,
            "tenant_id": self.tenant_id,
            "app_key": str(self.settings["app_key"]),
            "customers": items,
        }
        return Call(
            method="POST",
            url=self.url,
            body=convert.dumps(body),
            headers={"Content-Type": "application/json; charset=utf-8"},
            label="batch_create",
            sensitive_headers=frozenset({"sign", "accessKey"}),
        )

    def sign(self, call: Call) -> dict[str, str]:
        """`accessKey`, `action`, `bizType`, a fresh `ts` (ms) and their `sign`."""
        headers = {
            "accessKey": str(self.settings["access_key"]),
            "action": "mt",
            "bizType": "2",
            "ts": str(time.time_ns() // 1_000_000),
        }
        headers["sign"] = nxcloud_sign(headers, call.body, str(self.settings["access_secret"]))
        return headers


def _text(key: str, value: Any, limit: int | None) -> str:
    text = convert.text(value, key)
    return text if limit is None else convert.check_length(key, text, limit, VENDOR)


def _gender(value: Any) -> int:
    """1 (male) or 0 (female) from 1/0, "1"/"0", "male"/"female", "m"/"f"."""
    if isinstance(value, int | Decimal | float) and not isinstance(value, bool):
        key = str(int(value)) if value in (0, 1) else "?"
    else:
        key = str(value).strip().lower()
    if key not in GENDERS:
        raise RecordError("invalid_gender", f"gender: {convert.shown(value)} is not male/female")
    return GENDERS[key]


def _tags(value: Any) -> str:
    """Tags as one comma-separated string."""
    if isinstance(value, list | tuple | set):
        return ",".join(convert.text(v, "tagStr") for v in value if not convert.is_empty(v))
    return convert.text(value, "tagStr")


def _custom(explicit: Any, extras: dict[str, Any]) -> str | None:
    """`customize_field`, a string holding a JSON object: the record's own value (an object or
    such a string) merged over the extra fields."""
    if explicit is None and not extras:
        return None
    own = explicit
    if isinstance(explicit, str):
        try:
            own = json.loads(explicit)
        except ValueError:
            own = None
    if explicit is not None and not isinstance(own, Mapping):
        raise RecordError("invalid_json", "customize_field: must be a JSON object")
    return convert.json_text({**extras, **(own or {})}, "customize_field", DATETIME)


DESTINATION = NXCloud
