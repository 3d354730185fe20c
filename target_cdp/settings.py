"""The target's config schema: each destination's settings object plus the generic settings."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from singer_sdk import typing as th

from cdp_common.redact import secret_form
from target_cdp.vendors.base import Destination

DEFAULT_MAX_CONCURRENCY = 4
MAX_CONCURRENCY = 64  # one thread per lane: more would exhaust threads, not speed a vendor up

_ROUTE = th.ObjectType(
    th.Property("stream", th.StringType, required=True, description="Singer stream name"),
    th.Property("destination", th.StringType, required=True, description="dmartech, ..."),
    th.Property("type", th.StringType, required=True, description="the route type"),
    th.Property(
        "fields",
        th.ObjectType(additional_properties=th.StringType),
        description='{"<destination field>": "<source property or dotted path>"}',
    ),
    th.Property(
        "diff",
        th.BooleanType,
        description="Send a record only when its mapped payload differs from the one last "
        "delivered for its key (default: on for user, customer and delete routes, off for "
        "events)",
    ),
    th.Property(
        "delete_missing",
        th.BooleanType,
        description="Dmartech user routes: when a full-table version completes "
        "(ACTIVATE_VERSION), delete keys delivered earlier and absent from it (default false)",
    ),
    additional_properties=True,  # the destination's route options: `target-cdp --about`
)

_PER_DESTINATION = th.PropertiesList(
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=MAX_CONCURRENCY),
        description="Parallel requests to this destination (overrides the top-level value)",
    ),
    th.Property(
        "requests_per_second",
        th.NumberType(exclusive_minimum=0),
        description="Most requests a second to this destination (overrides the top-level value)",
    ),
)

GENERIC = th.PropertiesList(
    th.Property(
        "mappings",
        th.ArrayType(_ROUTE),
        description="Routes: stream -> destination; each destination's route types and their "
        "options are listed by target-cdp --about",
    ),
    th.Property(
        "unmapped_streams",
        th.StringType(allowed_values=["ignore", "fail"]),
        default="ignore",
        description="ignore (count and log once per stream) or fail on a stream with no route",
    ),
    th.Property(
        "dead_letter_path",
        th.StringType,
        default="target-cdp-rejected.jsonl",
        description="JSONL file receiving every rejected record (appended to)",
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        description="Validate and write the requests to dry_run_path; send nothing",
    ),
    th.Property("dry_run_path", th.StringType, default="target-cdp-dry-run.jsonl"),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=MAX_CONCURRENCY),
        default=DEFAULT_MAX_CONCURRENCY,
        description="Parallel requests per destination (records with one key stay in order)",
    ),
    th.Property(
        "requests_per_second",
        th.NumberType(exclusive_minimum=0),
        description="Rate limit per destination",
    ),
    th.Property(
        "max_tries",
        th.IntegerType(minimum=1),
        default=8,
        description="Attempts per request before its records are dead-lettered",
    ),
    th.Property(
        "request_timeout",
        th.NumberType(exclusive_minimum=0),
        default=30.0,
        description="Seconds before a request times out (then it is retried)",
    ),
    th.Property(
        "max_retry_wait",
        th.NumberType(minimum=0),
        default=60.0,
        description="Longest single wait between attempts, in seconds",
    ),
    th.Property(
        "state_flush_seconds",
        th.NumberType(minimum=0),
        default=5.0,
        description="A STATE message flushes partial batches when this long since the last flush",
    ),
    th.Property(
        "progress_seconds",
        th.NumberType(minimum=0),
        default=10.0,
        description="Seconds between progress log lines (0: none)",
    ),
    th.Property("summary_path", th.StringType, description="Also write the summary as JSON here"),
    th.Property(
        "ledger_uri",
        th.StringType,
        secret=True,  # a PostgreSQL URL carries its password
        default="sqlite:///target-cdp-ledger.db",
        description="Where the target remembers what it delivered: sqlite:///PATH, "
        "postgresql://USER:PASSWORD@HOST:PORT/DB (shared by several runs or machines), "
        "or none",
        # of a URL only the password is secret; `none` (`ledger.store.parse_uri`) is a word
        **secret_form(words=("none",), url_password=True),
    ),
    th.Property(
        "retry_failed",
        th.BooleanType,
        default=True,
        description="Send records left pending by earlier runs (retries exhausted, run "
        "stopped) at the start of the run, before new input",
    ),
    th.Property(
        "full_resync",
        th.BooleanType,
        default=False,
        description="Send every record this run even if unchanged (the ledger is still updated)",
    ),
)

DEFAULTS: dict[str, Any] = {
    name: prop.get("default") for name, prop in GENERIC.to_dict()["properties"].items()
}
"""Each generic setting's default, from its schema (None when it has none)."""


def build_config_schema(destinations: Mapping[str, type[Destination]]) -> dict[str, Any]:
    """The whole config JSON schema: one object per destination, then the generic settings."""
    schema = GENERIC.to_dict()
    extra = _PER_DESTINATION.to_dict()["properties"]
    vendors = {}
    for name, cls in destinations.items():
        obj = copy.deepcopy(cls.settings_schema.to_dict())
        props = obj.setdefault("properties", {})
        for key, value in extra.items():  # the generic bounds, the vendor's own defaults
            props[key] = {**value, **props.get(key, {})}
        obj.setdefault("description", f"{name} settings")
        vendors[name] = obj
    schema["properties"] = {**vendors, **schema["properties"]}
    return schema


def setting(config: Mapping[str, Any], key: str) -> Any:
    """A generic setting, or its default."""
    value = config.get(key)
    return DEFAULTS.get(key) if value is None else value


@dataclass(frozen=True)
class Throttle:
    """How hard one destination may be driven."""

    max_concurrency: int
    requests_per_second: float | None


def throttle(config: Mapping[str, Any], own: Mapping[str, Any]) -> Throttle:
    """`max_concurrency` / `requests_per_second` from the destination's own settings (`own`,
    where its class may have set defaults), else the top-level ones."""
    conc = own.get("max_concurrency") or setting(config, "max_concurrency")
    rps = own.get("requests_per_second") or setting(config, "requests_per_second")
    return Throttle(max(1, int(conc)), float(rps) if rps else None)


def secret_values(
    config: Mapping[str, Any], destinations: Mapping[str, type[Destination]]
) -> list[str]:
    """Every configured secret setting value (before any destination is built)."""
    values = []
    for name, cls in destinations.items():
        own = config.get(name) or {}
        if isinstance(own, Mapping):
            values += [str(own[k]) for k in cls.secret_settings if own.get(k)]
    return values
