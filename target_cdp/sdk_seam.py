"""The target's one seam to the Singer SDK's private and undocumented members.

The rest of the target uses the SDK's public API (`Target.listen`'s callers, `get_sink`,
`mapper.stream_maps`, `message_reader.assert_line_requires`, `Sink.get_validator`,
`Sink.process_batch_files`, `process_batch`, `process_endofpipe`, `invoke`, ...). What only a
private member could do lives here, each override marked `@override`, and
`tests/target/test_target_sdk_seam.py` checks every name and signature below against the installed
SDK, so an SDK release that moves one fails that test by name:

- `Target._process_{schema,record,state,activate_version,batch}_message` (overrides): the
  callbacks the SDK's reader calls per Singer message; they hand each message to the public
  hooks `schema_received` (before the SDK reads the schema), `schema_registered` (after the
  SDK registered the stream's maps and sinks),
  `handle_record`, `handle_state`, `handle_activate_version`, `handle_batch`;
- `Target.listen` (override; final in the SDK): `before_input` runs first (the ledger opens
  and what earlier runs left pending is resent before any line is read);
- `PluginBase._validate_config` (override) and `PluginBase._config`: settings validation
  that never echoes a secret, through `validate_settings`;
- `PluginBase._handle_termination` (override): SIGTERM/SIGINT go to `on_signal`;
- `Target._write_state_message`: how the SDK writes a STATE line, behind `write_state`;
- `Sink._validator` (what `get_validator` returned), `Sink._add_sdc_metadata_to_record`:
  behind `SeamSink.record_validator` and `SeamSink.add_record_metadata`;
- `sinks.core.BaseJSONSchemaValidator`: the base of a validator `get_validator` returns;
- `helpers._batch.BaseBatchFileEncoding`: a BATCH message's encoding, as the SDK reads it;
- `mapper.SameRecordTransform` (via `cdp_common.stream_maps`): the map that changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from types import FrameType
from typing import IO, Any

from singer_sdk import Target
from singer_sdk.helpers._batch import BaseBatchFileEncoding
from singer_sdk.sinks import Sink
from singer_sdk.sinks.core import BaseJSONSchemaValidator
from typing_extensions import override

from cdp_common.stream_maps import StreamMap, passes_unchanged

__all__ = [
    "BaseBatchFileEncoding",
    "BaseJSONSchemaValidator",
    "SeamSink",
    "SeamTarget",
    "StreamMap",
    "batch_encoding",
    "passes_unchanged",
]


def batch_encoding(spec: Mapping[str, Any]) -> BaseBatchFileEncoding:
    """A BATCH message's `encoding` object as the SDK's batch reader takes it (TypeError if
    it is not one)."""
    return BaseBatchFileEncoding.from_dict(dict(spec))


class SeamTarget(Target):
    """A `Target` whose private SDK members are reached only through this class."""

    def validate_settings(
        self, config: MutableMapping[str, Any], *, raise_errors: bool
    ) -> list[str]:
        """Validate (and complete with defaults) the settings; the problems, one a line."""
        raise NotImplementedError

    def before_input(self) -> None:
        """Runs when `listen` is called, before the first input line is read."""

    def schema_received(self, message: dict[str, Any]) -> None:
        """A SCHEMA message arrived; the SDK has not read its schema yet."""

    def schema_registered(self, stream: str) -> None:
        """A SCHEMA message for `stream` was applied: its maps and sinks are in place."""

    def handle_record(self, message: dict[str, Any]) -> None:
        """A RECORD message."""
        raise NotImplementedError

    def handle_state(self, message: dict[str, Any]) -> None:
        """A STATE message."""
        raise NotImplementedError

    def handle_activate_version(self, message: dict[str, Any]) -> None:
        """An ACTIVATE_VERSION message."""
        raise NotImplementedError

    def handle_batch(self, message: dict[str, Any]) -> None:
        """A BATCH message."""
        raise NotImplementedError

    def on_signal(self, signum: int) -> None:
        """SIGTERM or SIGINT arrived (the SDK would drain every sink and exit 0)."""
        raise NotImplementedError

    def write_state(self, state: Any) -> None:
        """Write one STATE message to stdout, as the SDK writes it."""
        self._write_state_message(state)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        return self.validate_settings(self._config, raise_errors=raise_errors)

    @override  # type: ignore[misc]  # `listen` is final in the SDK
    def listen(self, file_input: IO[str] | None = None) -> None:
        self.before_input()
        super().listen(file_input)

    @override
    def _process_schema_message(self, message_dict: dict[str, Any]) -> None:
        self.schema_received(message_dict)
        super()._process_schema_message(message_dict)
        self.schema_registered(message_dict["stream"])

    @override
    def _process_record_message(self, message_dict: dict[str, Any]) -> None:
        self.handle_record(message_dict)

    @override
    def _process_state_message(self, message_dict: dict[str, Any]) -> None:
        self.handle_state(message_dict)

    @override
    def _process_activate_version_message(self, message_dict: dict[str, Any]) -> None:
        self.handle_activate_version(message_dict)

    @override
    def _process_batch_message(self, message_dict: dict[str, Any]) -> None:
        self.handle_batch(message_dict)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_signal(signum)


class SeamSink(Sink):
    """A `Sink` whose private SDK members are reached only through this class."""

    @override
    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict[str, Any],
        key_properties: Any,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.record_validator: BaseJSONSchemaValidator | None = self._validator
        """What `get_validator` returned (None when `validate_records` is off)."""

    def add_record_metadata(self, record: dict[str, Any], message: dict[str, Any]) -> None:
        """Add the SDK's `_sdc_*` properties to `record` (`add_record_metadata` setting)."""
        self._add_sdc_metadata_to_record(record, message, {})
