"""What each Singer message does once the SDK has read it and applied the stream maps.

- SCHEMA: the SDK registers the stream's maps and sinks; an alias without a route is ignored
  (counted, logged once) or, with `unmapped_streams: fail`, stops the run (`UnmappedStream`);
- RECORD: each map's record goes to its alias's sink (`CDPSink.accept`), which submits it to
  the alias's routes; a RECORD before its SCHEMA is an input error naming the line. Records of
  a stream without a map are held back, up to `HELD_RECORDS`, and handed on together
  (`CDPSink.accept_many`) before any other message, another stream's record, or the end of
  the input (`release_records`): the same order, fewer steps a record;
- STATE: closes the open interval of the `StateTracker` (written once its records are done);
- ACTIVATE_VERSION: a full-table version is complete when it follows its records (or a first
  one announcing it): then `delete_missing` routes delete what it lacks;
- BATCH: its files (read by the SDK) are processed as RECORD messages.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from singer_sdk.exceptions import InvalidJSONSchema, RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine
from typing_extensions import override

from target_cdp.batchfiles import consume_batch
from target_cdp.delivery import Pipeline, RouteRuntime
from target_cdp.reader import LineReader
from target_cdp.sdk_seam import SeamTarget, StreamMap, passes_unchanged
from target_cdp.settings import setting
from target_cdp.sinks import CDPSink
from target_cdp.state import StateTracker

HELD_RECORDS = 500  # records of one stream handed to its sink together


class UnmappedStream(Exception):
    """A stream has no route and `unmapped_streams` is `fail`."""


class MessageHandling(SeamTarget):
    """The Singer message hooks of `TargetCDP`; `routes`, `tracker`, `pipeline` are its run's."""

    routes: dict[str, list[RouteRuntime]]
    tracker: StateTracker
    pipeline: Pipeline
    message_reader: LineReader

    def __init__(self, **kwargs: Any) -> None:
        self.ignored: dict[str, int] = defaultdict(int)  # records per unmapped stream
        self.sinks: dict[str, CDPSink] = {}  # the active sink of each stream alias
        self._versions: dict[str, set[Any]] = defaultdict(set)  # versions seen per stream
        self._announced: dict[str, set[Any]] = defaultdict(set)  # ACTIVATE_VERSION first
        # streams whose one map passes records unchanged: (its alias, the alias's sink)
        self._direct: dict[str, tuple[str, CDPSink]] = {}
        # RECORD messages held back for `_held_sink`, and their input lines
        self._held: list[dict[str, Any]] = []
        self._held_lines: list[int] = []
        self._held_sink: CDPSink | None = None
        super().__init__(**kwargs)

    def release_records(self) -> None:
        """Hand the records held back to their sink, in input order."""
        messages, lines = self._held, self._held_lines
        if not messages or self._held_sink is None:
            return
        self._held, self._held_lines = [], []
        records = [message["record"] for message in messages]
        self._held_sink.accept_many(records, messages, lines)

    def routes_for(self, stream: str) -> list[RouteRuntime]:
        """The routes of one (mapped) stream; empty when the stream is unmapped."""
        return self.routes.get(stream, [])

    @property
    def line_number(self) -> int:
        """The input line being processed (0 before the first)."""
        return self.message_reader.line_number

    @override
    def schema_received(self, message: dict[str, Any]) -> None:
        """A schema the SDK would trip over (not an object, `properties` not an object) stops
        the run with one line naming it, not a traceback from inside the SDK."""
        self.release_records()  # to the sink the stream had before this schema
        schema = message.get("schema")
        props = schema.get("properties", {}) if isinstance(schema, dict) else None
        if isinstance(props, dict):
            return
        what = "`properties`" if isinstance(schema, dict) else "the schema"
        wrong = props if isinstance(schema, dict) else schema
        msg = (
            f"line {self.line_number}: stream '{message.get('stream')}': invalid JSON schema: "
            f"{what} must be an object, not {type(wrong).__name__}"
        )
        raise InvalidJSONSchema(msg)

    @override
    def schema_registered(self, stream: str) -> None:
        self._direct.clear()  # maps and sinks change with a SCHEMA
        for stream_map in self.mapper.stream_maps[stream]:
            alias = stream_map.stream_alias
            self.sinks[alias] = self.get_sink(alias)  # type: ignore[assignment]
            if alias in self.routes or alias in self.ignored:
                continue
            if setting(self.config, "unmapped_streams") == "fail":
                msg = (
                    f"line {self.line_number}: stream '{alias}' has no route in `mappings` "
                    "(unmapped_streams is 'fail')"
                )
                raise UnmappedStream(msg)
            self.ignored[alias] = 0
            self.logger.info(
                "Stream '%s' has no route in `mappings`: its records are ignored", alias
            )

    @override
    def handle_record(self, message: dict[str, Any]) -> None:
        try:
            stream, raw = message["stream"], message["record"]
        except KeyError:
            self.message_reader.assert_line_requires(message, requires={"stream", "record"})
            raise
        direct = self._direct.get(stream)
        if direct is not None:  # the usual case, without a map: held for the sink
            alias, direct_sink = direct
            if direct_sink is not self._held_sink:
                self.release_records()
                self._held_sink = direct_sink
            held = self._held
            held.append(message)
            self._held_lines.append(self.message_reader.line_number)
            if "version" in message and message["version"] is not None:
                self._versions[alias].add(message["version"])
            if len(held) >= HELD_RECORDS:
                self.release_records()
            return
        self.release_records()
        maps: list[StreamMap] | None = self.mapper.stream_maps.get(stream)
        if maps is None:
            msg = f"line {self.line_number}: a RECORD for stream '{stream}' came before its SCHEMA"
            raise RecordsWithoutSchemaException(msg)
        for stream_map in maps:
            raw = message["record"] if len(maps) == 1 else dict(message["record"])
            unchanged = passes_unchanged(stream_map)
            record = raw if unchanged else stream_map.transform(raw)
            if record is None:
                continue
            alias = stream_map.stream_alias
            sink = self.sinks.get(alias)
            if sink is None:
                msg = (
                    f"line {self.line_number}: a RECORD for stream '{alias}' came before its SCHEMA"
                )
                raise RecordsWithoutSchemaException(msg)
            sink.accept(record, message, self.line_number, decoded=unchanged)
            version = message.get("version")
            if version is not None:
                self._versions[alias].add(version)
            if len(maps) == 1 and unchanged:
                self._direct[stream] = (alias, sink)

    @override
    def handle_state(self, message: dict[str, Any]) -> None:
        self.release_records()
        self.message_reader.assert_line_requires(message, requires={"value"})
        value = message["value"]
        if not isinstance(value, dict):
            msg = (
                f"line {self.line_number}: a STATE message's value must be a JSON object, "
                f"not {type(value).__name__}"
            )
            raise InvalidInputLine(msg)
        self.tracker.checkpoint(value)
        self.pipeline.on_state()

    @override
    def handle_activate_version(self, message: dict[str, Any]) -> None:
        self.release_records()
        self.message_reader.assert_line_requires(message, requires={"stream", "version"})
        if not self.config.get("process_activate_version_messages", True):  # the SDK's switch
            return
        stream, version = message["stream"], message["version"]
        for stream_map in self.mapper.stream_maps.get(stream, []):
            alias = stream_map.stream_alias
            if version not in self._versions[alias] and version not in self._announced[alias]:
                self._announced[alias].add(version)  # opens the version; records follow
                continue
            if not isinstance(version, int) or isinstance(version, bool):
                continue
            for rt in self.routes_for(alias):
                if rt.memory is not None and rt.memory.delete_missing:
                    self.pipeline.delete_missing(rt, version)

    @override
    def handle_batch(self, message: dict[str, Any]) -> None:
        self.release_records()
        line = self.line_number
        stream = message.get("stream")
        maps = self.mapper.stream_maps.get(stream) if isinstance(stream, str) else None
        if maps is None:
            msg = f"line {line}: a BATCH for stream '{stream}' came before its SCHEMA"
            raise RecordsWithoutSchemaException(msg)
        sink = next((self.sinks[m.stream_alias] for m in maps if m.stream_alias in self.sinks),
                    None)  # fmt: skip
        if sink is None:  # every map of the stream drops it
            return

        def on_record(record: dict[str, Any]) -> None:
            self.handle_record({"type": "RECORD", "stream": stream, "record": record})

        consume_batch(message, line, sink, on_record)
