"""`tap-primedata`: PrimeData profiles and their events as Singer streams."""

from __future__ import annotations

import sys
import typing as t
from collections.abc import MutableMapping
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

import requests
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from cdp_common.config_errors import exit_on_config_error, validate_config
from cdp_common.redact import install_record_factory
from tap_primedata import timestamps as ts
from tap_primedata.bookmarks import StateUnreadable
from tap_primedata.catalog import replication_methods_from_metadata
from tap_primedata.client import PrimeDataStream
from tap_primedata.lookups import LookupSource
from tap_primedata.sdk_seam import SeamTap
from tap_primedata.settings_check import problems
from tap_primedata.streams import EventsStream, ProfilesStream
from tap_primedata.transport import RunStopped, build_session
from tap_primedata.writer import BufferedMsgSpecWriter

MAX_CONCURRENCY = 100  # one thread per parallel lookup


class TapPrimeData(SeamTap):
    """Reads the configured PrimeData profiles and their events."""

    name = "tap-primedata"
    package_name = "cdp-connectors"
    message_writer_class = BufferedMsgSpecWriter

    config_jsonschema = th.PropertiesList(
        th.Property("api_url", th.StringType, required=True, title="API URL",
                    description="PrimeData base URL (tenant specific); `/pub/...` is appended"),
        th.Property("api_key", th.StringType, required=True, secret=True, title="API key",
                    description="Sent as the `x-api-key` header"),
        th.Property("profile_ids", th.ArrayType(th.StringType),
                    description="Profiles to read by PrimeData id"),
        th.Property("identities", th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
                    description="Identity name -> values; each value is one profile lookup"),
        th.Property("profiles_file", th.StringType,
                    description='JSONL file, one lookup a line: {"profile_id": "..."} or '
                    '{"identity": "email", "value": "..."}; read lazily'),
        th.Property("start_date", th.DateTimeType,
                    description="First sync of a lookup reads events after this"),
        th.Property("end_date", th.DateTimeType,
                    description="Read events before this (default: now, fixed at run start)"),
        th.Property("event_names", th.ArrayType(th.StringType),
                    description="Only these events (PrimeData `include`)"),
        th.Property("profile_types", th.ArrayType(th.StringType(
                        allowed_values=["trait", "ptrait", "identity"])),
                    description="Profile parts to read (default all)"),
        th.Property("profile_properties", th.ArrayType(th.StringType),
                    description="Only these profile properties (PrimeData `include`; "
                    "default all)"),
        th.Property("lookback_window", th.IntegerType(minimum=0), default=0,
                    description="Also re-read this many seconds before each lookup's events "
                    "bookmark (for events PrimeData stores out of order; duplicates only "
                    "inside it)"),
        th.Property("page_size", th.IntegerType(minimum=1, maximum=100), default=100,
                    description="Events per request (1..100)"),
        th.Property("max_concurrency", th.IntegerType(minimum=1, maximum=MAX_CONCURRENCY),
                    default=8,
                    description="Lookups read in parallel (one request each at a time)"),
        th.Property("shard_count", th.IntegerType(minimum=1), default=1,
                    description="Split the lookups across this many parallel runs"),
        th.Property("shard_index", th.IntegerType(minimum=0), default=0,
                    description="This run's shard, 0..shard_count-1"),
        th.Property("naive_timezone", th.StringType, default="UTC",
                    description="Zone of PrimeData times sent without one: UTC, an offset "
                    "(+07:00) or an IANA name. The vendor doc hints naive times may be UTC+7"),
        th.Property("request_timeout", th.NumberType(exclusive_minimum=0), default=60,
                    description="Seconds before a request times out (then it is retried)"),
        th.Property("max_tries", th.IntegerType(minimum=1), default=8,
                    description="Tries of one request before the run fails"),
        th.Property("retry_base_delay", th.NumberType(minimum=0), default=1.0,
                    description="First backoff delay in seconds (doubles each retry)"),
        th.Property("retry_max_delay", th.NumberType(minimum=0), default=60.0,
                    description="Longest backoff delay in seconds (Retry-After is honoured)"),
        th.Property("log_request_metrics", th.BooleanType, default=False,
                    description="Log the SDK's timer metric for every HTTP request"),
        th.Property("progress_seconds", th.NumberType(minimum=0), default=10,
                    description="Seconds between progress lines per running stream (0: none)"),
        th.Property("state_interval_records", th.IntegerType(minimum=1), default=10000,
                    description="Emit STATE at least every this many records"),
        th.Property("state_interval_seconds", th.NumberType(minimum=0), default=60,
                    description="Emit STATE at least this often while records are emitted"),
    ).to_dict()  # fmt: skip

    server_faults = 0  # lookups skipped because PrimeData misbehaved on them

    def __init__(self, *args: Any, catalog: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, catalog=replication_methods_from_metadata(catalog), **kwargs)

    def discover_streams(self) -> list[Stream]:
        """The two streams: `profiles` then `events`."""
        return [ProfilesStream(self), EventsStream(self)]

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session shared by every worker of every stream."""
        return build_session(int(self.config["max_concurrency"]) + 2, str(self.config["api_url"]))

    @cached_property
    def window(self) -> tuple[str | None, str]:
        """`(start_date, end_date)` as RFC 3339 UTC; end defaults to now, fixed once per run."""
        start = self.config.get("start_date")
        end = self.config.get("end_date")
        if end:
            end = ts.normalize(end)
        else:
            end = ts.format_utc(datetime.now(timezone.utc).replace(microsecond=0))
        return (ts.normalize(start) if start else None), end

    def validate_settings(
        self, config: MutableMapping[str, Any], *, raise_errors: bool
    ) -> list[str]:
        """The SDK's validation, with secrets never echoed and dates, zone and file checked."""
        install_record_factory()
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        errors = validate_config(config, schema, raise_errors=raise_errors)
        if not errors:
            errors = problems(config)
            if errors and raise_errors:
                raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    @classmethod
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """The SDK's run; a configuration problem is one line per setting, exit status 2."""
        try:
            super().invoke(*args, **kwargs)
        except ConfigValidationError as exc:
            exit_on_config_error(cls.logger, exc)

    def _check_lookups(self) -> None:
        try:
            source = LookupSource(self.config)
        except ValueError as exc:
            raise ConfigValidationError(str(exc), errors=[str(exc)]) from None
        if not source.configured:
            msg = "One of `profile_ids`, `identities` or `profiles_file` is required"
            raise ConfigValidationError(msg, errors=[msg])

    def _load_bookmarks(self) -> None:
        """Read every selected stream's bookmarks before anything is emitted."""
        for stream in self.streams.values():
            if stream.selected and isinstance(stream, PrimeDataStream):
                try:
                    stream.load_marks()
                except StateUnreadable as exc:
                    raise RunStopped(
                        f"The state given with --state cannot be read: {exc}. Pass the last "
                        f"STATE this tap wrote, or none to read everything again"
                    ) from None

    @override
    def run_sync(self, sync: t.Callable[[], None]) -> None:
        """Sync every selected stream; a refused API key ends the run with one line."""
        self._check_lookups()
        try:
            self._load_bookmarks()
            sync()
        except RunStopped as exc:
            self.logger.error("%s", exc)
            sys.exit(1)
        finally:
            flush = getattr(self.message_writer, "flush", None)
            if flush is not None:
                flush()
        if self.server_faults:
            sys.exit(1)


if __name__ == "__main__":
    TapPrimeData.cli()
