"""One sink per stream: strips Singer metadata, validates, and hands records to the routes."""

from __future__ import annotations

import typing as t

import fastjsonschema
from singer_sdk import Target
from singer_sdk.exceptions import InvalidRecord, MissingKeyPropertiesError
from singer_sdk.singerlib.exceptions import InvalidInputLine
from typing_extensions import override

from target_cdp.delivery import Pipeline, RouteRuntime
from target_cdp.sdk_seam import BaseBatchFileEncoding, BaseJSONSchemaValidator, SeamSink
from target_cdp.validation import FastValidator

Records = t.Callable[[list[dict[str, t.Any]]], None]

SDC_FIELDS = (
    "_sdc_extracted_at",
    "_sdc_received_at",
    "_sdc_batched_at",
    "_sdc_deleted_at",
    "_sdc_sequence",
    "_sdc_table_version",
    "_sdc_sync_started_at",
)
_SDC_SET = frozenset(SDC_FIELDS)
_WARN_INVALID = 10  # schema-invalid records logged one by one per stream, then only counted


class SinkHost(t.Protocol):
    """What a `CDPSink` needs of its target (`TargetCDP`)."""

    pipeline: Pipeline
    ignored: dict[str, int]  # records per unmapped stream

    def routes_for(self, stream: str) -> list[RouteRuntime]: ...


class CDPSink(SeamSink):
    """Fans each record of one stream out to the stream's routes (delivery batches by route)."""

    MAX_SIZE_DEFAULT = 1 << 62  # batching happens per route in `delivery`, never here

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict[str, t.Any],
        key_properties: t.Sequence[str] | None,
    ) -> None:
        super().__init__(target, stream_name, schema, key_properties)
        self.cdp = t.cast(SinkHost, target)
        self.routes: list[RouteRuntime] = self.cdp.routes_for(stream_name)
        self.invalid = 0
        self._keys = tuple(self.key_properties)  # read once, not per record
        self._with_sdc = self.include_sdc_metadata_properties
        self._on_batch_records: Records | None = None
        # Singer metadata a route's destination reads (`Destination.record_metadata`)
        self._kept = tuple(sorted({n for rt in self.routes for n in rt.dest.record_metadata}))
        self._kept_sdc = _SDC_SET.issuperset(self._kept)  # a record without `_sdc_*` has none
        validator = self.record_validator
        fast = validator if isinstance(validator, FastValidator) else None
        self._check = fast.check if fast else None  # records decoded from JSON
        self._all_valid = fast.all_valid if fast else None
        self._exact = fast.exact if fast else None  # a stream map's records

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        if not self.validate_schema:
            return None
        return FastValidator(self.schema)

    def accept(
        self, record: dict[str, t.Any], message: dict[str, t.Any], line: int, decoded: bool = True
    ) -> None:
        """Validate one (already mapped) record and submit it to every route (`decoded`: the
        record is as decoded from JSON, not made by a stream map)."""
        keys = self._keys
        try:
            if len(keys) == 1:
                key: t.Any = record[keys[0]]
            else:
                key = tuple(record[k] for k in keys) if keys else None
        except (KeyError, TypeError):
            if not isinstance(t.cast(object, record), dict):  # malformed input
                msg = (
                    f"line {line}: stream '{self.stream_name}': a record must be a JSON object, "
                    f"not {type(record).__name__}"
                )
                raise InvalidInputLine(msg) from None
            name = next(k for k in keys if k not in record)
            msg = (
                f"line {line}: stream '{self.stream_name}': record is missing key property "
                f"'{name}' (key properties {list(keys)})"
            )
            raise MissingKeyPropertiesError(msg) from None
        if not self.routes:  # unmapped: checked for its key like any record, then counted
            self.cdp.ignored[self.stream_name] += 1
            return
        kept: t.Any = ()
        if self._with_sdc:
            self.add_record_metadata(record, message)
        elif self._kept_sdc:
            if not _SDC_SET.isdisjoint(record):
                kept = [(name, record.pop(name, None)) for name in self._kept]
                for name in SDC_FIELDS:
                    record.pop(name, None)
        else:
            if self._kept:
                kept = [(name, record.pop(name, None)) for name in self._kept]
            if not _SDC_SET.isdisjoint(record):
                for name in SDC_FIELDS:
                    record.pop(name, None)
        check = self._check if decoded else self._exact
        if check is not None:  # `FastValidator`'s compiled check, called directly
            try:
                check(record)
            except fastjsonschema.JsonSchemaValueException as exc:
                self._reject_invalid(record, key, line, exc.message, message.get("version"))
                return
        elif self.record_validator is not None:
            try:
                self.record_validator.validate(record)
            except InvalidRecord as exc:
                self._reject_invalid(record, key, line, exc.error_message, message.get("version"))
                return
        for name, value in kept:
            if value is not None:
                record[name] = value
        self.cdp.pipeline.submit(self.routes, record, key, message.get("version"))

    def accept_many(
        self, records: list[dict[str, t.Any]], messages: list[dict[str, t.Any]], lines: list[int]
    ) -> None:
        """`accept` for records as decoded from JSON (no stream map), in input order: checked
        and submitted together (fewer steps a record). Anything unusual (a record that is no
        object or lacks a key, one failing its schema, Singer metadata to add or keep) sends
        them through `accept` one by one, which gives each its own outcome as always."""
        values = self._together(records)
        if values is not None:
            versions = [message.get("version") for message in messages]
            self.cdp.pipeline.submit_many(self.routes, records, values, versions)
            return
        for record, message, line in zip(records, messages, lines, strict=True):
            self.accept(record, message, line)

    def _together(self, records: list[dict[str, t.Any]]) -> list[t.Any] | None:
        """The records' stream keys (None each for a keyless stream), with `_sdc_*` metadata
        removed and every record valid; None when they must go one by one."""
        if not self.routes or self._with_sdc or (self._kept and not self._kept_sdc):
            return None
        if self._all_valid is None and self.record_validator is not None:
            return None  # a validator other than `FastValidator`
        keys = self._keys
        try:
            if len(keys) == 1:
                name = keys[0]
                values: list[t.Any] = [record[name] for record in records]
            elif keys:
                values = [tuple([record[k] for k in keys]) for record in records]
            elif all(type(record) is dict for record in records):
                values = [None] * len(records)
            else:
                return None
        except (KeyError, TypeError):
            return None  # the record at fault stops the run with its line
        disjoint = _SDC_SET.isdisjoint
        with_sdc = [record for record in records if not disjoint(record)]
        if with_sdc and self._kept:
            return None  # metadata to keep
        for record in with_sdc:
            for name in SDC_FIELDS:
                record.pop(name, None)
        if self._all_valid is not None and not self._all_valid(records):
            return None
        return values

    def _reject_invalid(
        self, record: dict[str, t.Any], key: t.Any, line: int, message: str, version: t.Any = None
    ) -> None:
        """Dead-letter a record failing its schema on every route of the stream."""
        self.invalid += 1
        if self.invalid <= _WARN_INVALID:
            self.logger.warning(
                "line %d: stream '%s' record %s fails its schema (%s): dead-lettered",
                line,
                self.stream_name,
                f"key {key!r}" if key is not None else "(no key)",
                message,
            )
        for rt in self.routes:
            rt.stats.received += 1
            self.cdp.pipeline.reject(rt, [record], "schema_invalid", message)
            if rt.memory is not None:  # still at the source: delete_missing keeps its key
                rt.memory.saw(key, version)

    @override
    def process_record(self, record: dict[str, t.Any], context: dict[str, t.Any]) -> None:
        """Unused: `TargetCDP` calls `accept` directly."""

    def read_batch_files(
        self, encoding: BaseBatchFileEncoding, files: t.Sequence[str], on_records: Records
    ) -> None:
        """Read BATCH files with the SDK (`process_batch_files`); records go to `on_records`."""
        self._on_batch_records = on_records
        try:
            self.process_batch_files(encoding, files)
        finally:
            self._on_batch_records = None

    @override
    def process_batch(self, context: dict[str, t.Any]) -> None:
        """Records of a BATCH file go to `read_batch_files`'s callback; nothing else to drain
        (records are delivered by the route lanes)."""
        if self._on_batch_records is not None and "records" in context:
            self._on_batch_records(context["records"])
