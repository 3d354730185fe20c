"""The tap's one seam to the Singer SDK's private and undocumented members.

The rest of the tap uses the SDK's public hooks (`get_records`, `prepare_request_payload`,
`validate_response`, `backoff_*`, `get_new_paginator`, `discover_streams`, `sync_all`, ...).
What only a private member could do lives here, each override marked `@override`, and
`tests/tap/test_sdk_seam.py` checks every name and signature below against the installed SDK,
so an SDK release that moves one fails that test by name:

- `Stream._write_record_message` (override): the RECORD path without the per-record type
  conformance and pruning our records never need; stream maps still apply;
- `helpers._catalog.pop_deselected_record_properties`: pruning, when a catalog deselects;
- `Stream._process_record` (override): per-record child-stream work (we have no children);
- `Stream._increment_stream_state` (override): the SDK's per-record bookmark, replaced by the
  tap's own per-lookup bookmarks;
- `Stream._write_state_message`, `Stream.state_manager.is_flushed`: STATE when the tap decides;
- `Stream._tap`, `Stream._stream_version`: the tap object and the stream's version;
- `Stream.log` and the SDK's text "Pagination stopped after": that line per lookup is DEBUG;
- `RESTStream._LOG_REQUEST_METRICS`: the SDK's timer line per request, off unless asked for;
- `PluginBase._validate_config` (override) and `PluginBase._config`: settings validation
  that never echoes a secret;
- `Tap.sync_all` (override of a method the SDK marks `@final`): checks before the run and
  one clear line when it stops, around the SDK's own run;
- `contrib.msgspec.encoder`: the SDK's own encoder, reused by `writer.py`;
- `mapper.SameRecordTransform` (via `cdp_common.stream_maps`): the map that changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from datetime import datetime, timezone
from typing import Any, Generic, Protocol, TypeVar, cast

from singer_sdk import Tap
from singer_sdk.contrib.msgspec import encoder as sdk_record_encoder
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.streams import RESTStream
from typing_extensions import override

from cdp_common.stream_maps import passes_unchanged

__all__ = ["SeamStream", "SeamTap", "sdk_record_encoder"]

PAGINATION_STOPPED = "Pagination stopped after"  # the SDK's line when a lookup is read

Record = dict[str, Any]


class RecordWriter(Protocol):
    """The tap's message writer (`writer.py`): writes one RECORD without a message object."""

    def write_record(
        self, stream: str, record: Record, time_extracted: datetime, version: Any = None
    ) -> None: ...


TapT = TypeVar("TapT")  # what a stream reads from the tap running it


class SeamStream(RESTStream, Generic[TapT]):
    """A `RESTStream` whose private SDK members are reached only through this class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prune: bool | None = None
        self._emitters: list[tuple[str, Callable[[Record], Record | None] | None]] | None = None

    @property
    def tap(self) -> TapT:
        """The tap running this stream, as the stream declares it (the SDK's is any `Tap`)."""
        return cast(TapT, self._tap)

    def log_request_metrics(self, enabled: bool) -> None:
        """Whether the SDK logs one timer line per request (off: 100k lookups, 100k lines)."""
        self._LOG_REQUEST_METRICS = enabled

    def write_state(self, key: str, value: Any) -> None:
        """Set `key` in this stream's state and emit STATE now."""
        self.stream_state[key] = value  # one assignment: a signal sees old or new
        self.state_manager.is_flushed = False
        self._write_state_message()

    def set_final_state(self, key: str, value: Any) -> None:
        """Set `key` in this stream's state, emitted by the SDK when the stream ends."""
        self.stream_state[key] = value
        self.state_manager.is_flushed = False

    @override
    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        """The SDK's stream log, minus its line per lookup that has no new events."""
        if message.startswith(PAGINATION_STOPPED):
            level = logging.DEBUG  # 100k lookups up to date would be 100k INFO lines
        super().log(message, *args, level=level, **kwargs)

    @override
    def _write_record_message(self, record: Record) -> None:
        """The SDK's RECORD path minus the per-record work our records never need.

        The streams build each record with exactly the schema's keys and JSON types, so
        the SDK's type conformance (a recursive walk per record) is skipped, and so is
        pruning deselected properties while the catalog deselects none. Stream maps apply,
        and the line is encoded straight into the writer's buffer.
        """
        if self._prune is None:
            self._prune = not all(self.mask.values())
        if self._prune:
            pop_deselected_record_properties(record, self.schema, self.mask)
        if self._emitters is None:
            self._emitters = [
                (m.stream_alias, None if passes_unchanged(m) else m.transform)
                for m in self.stream_maps
            ]
        extracted = datetime.now(timezone.utc)
        # the SDK types `message_writer` as its base class; the tap's is a `RecordWriter`
        write = cast(RecordWriter, self._tap.message_writer).write_record
        for alias, transform in self._emitters:
            mapped = record if transform is None else transform(record)
            if mapped is not None:
                write(alias, mapped, extracted, self._stream_version)
        self.state_manager.is_flushed = False

    @override
    def _process_record(self, record: Record, *args: Any, **kwargs: Any) -> None:
        """Per record the SDK only feeds child streams, which these streams do not have."""
        if self.child_streams:
            super()._process_record(record, *args, **kwargs)

    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Any = None) -> None:
        """Bookmarks are the tap's own (per lookup), not the SDK's per record."""


class SeamTap(Tap):
    """A `Tap` whose settings validation goes through `validate_settings` and whose run goes
    through `run_sync`."""

    @override  # type: ignore[misc]  # `sync_all` is final in the SDK, which has no run hook
    def sync_all(self) -> None:
        """The SDK's whole run, inside `run_sync`."""
        self.run_sync(super().sync_all)

    def run_sync(self, sync: Callable[[], None]) -> None:
        """Run `sync` (the SDK's `sync_all`) with what must come before and after it."""
        sync()

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        return self.validate_settings(self._config, raise_errors=raise_errors)

    def validate_settings(
        self, config: MutableMapping[str, Any], *, raise_errors: bool
    ) -> list[str]:
        """Validate (and complete with defaults) the settings; the problems, one a line."""
        raise NotImplementedError
