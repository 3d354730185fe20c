"""TargetCDP: route Singer streams to Dmartech, EngageLab and NXCloud.

The SDK reads the input and applies stream maps; everything after that is ours: each record
goes to its stream's routes (`delivery`), and a STATE is written only once every record
received before it is delivered or dead-lettered (`state`). Schema-invalid records are
dead-lettered (code `schema_invalid`); malformed input stops reading with one line naming the
line number, after the records already read are delivered and their state emitted.

With a ledger (`ledger_uri`, see `target_cdp.ledger`), the run opens it before reading input
(one line naming `ledger_uri` when it cannot), first resends what earlier runs left pending,
and a full-table version completed by ACTIVATE_VERSION deletes what it no longer holds on
`delete_missing` routes.

This module holds the plugin (settings, the run's start and end, the CLI); what each Singer
message does is in `messages.py`, how the settings become routes and lanes in `wiring.py`,
and every private SDK member it relies on in `sdk_seam.py`.
"""

from __future__ import annotations

import io
import sys
import typing as t
from collections.abc import MutableMapping
from contextlib import redirect_stdout
from typing import Any

from singer_sdk.exceptions import (
    ConfigValidationError,
    InvalidJSONSchema,
    MissingKeyPropertiesError,
    RecordsWithoutSchemaException,
)
from singer_sdk.singerlib.exceptions import InvalidInputLine
from typing_extensions import override

from cdp_common.config_errors import exit_on_config_error, validate_config
from target_cdp.about import with_routes
from target_cdp.collection import fewer_collections
from target_cdp.delivery import StopDelivery
from target_cdp.ledger.store import LedgerError
from target_cdp.messages import MessageHandling, UnmappedStream
from target_cdp.reader import LineReader
from target_cdp.redact import REDACTOR, install
from target_cdp.settings import build_config_schema, secret_values, setting
from target_cdp.sinks import CDPSink
from target_cdp.summary import summary_line, write_json
from target_cdp.vendors import DestinationLoadError, load_destinations
from target_cdp.vendors.base import ConfigError, Destination
from target_cdp.wiring import wire

INPUT_ERRORS = (
    InvalidInputLine,
    RecursionError,
    RecordsWithoutSchemaException,
    MissingKeyPropertiesError,
    InvalidJSONSchema,
)


def _load_destinations() -> dict[str, type[Destination]]:
    """Every installed destination; a broken one stops the program with one line naming it."""
    try:
        return load_destinations()
    except DestinationLoadError as exc:
        raise SystemExit(f"target-cdp: {exc}") from None


class Terminated(Exception):
    """SIGTERM/SIGINT: stop reading, deliver what was read, emit its state."""


class TargetCDP(MessageHandling):
    """Singer target delivering records to customer-data platforms."""

    name = "target-cdp"
    package_name = "cdp-connectors"
    destinations: t.ClassVar[dict[str, type[Destination]]] = _load_destinations()
    config_jsonschema = build_config_schema(destinations)
    default_sink_class = CDPSink
    message_reader_class = LineReader

    def __init__(self, **kwargs: t.Any) -> None:
        super().__init__(**kwargs)
        self.exit_code = 0
        self.reading = False  # the ledger is open and input is being read
        self.input_error: str | None = None
        self._finished = False
        run = wire(
            self.config, self.destinations, self.logger, self.write_state, self._ledger_failed
        )
        self.routes, self.tracker, self.pipeline = run.routes, run.tracker, run.pipeline
        self.dead, self.dry_run, self.memory = run.dead, run.dry_run, run.memory
        self.progress, self.ledger_shown = run.progress, run.ledger_shown

    # setup --------------------------------------------------------------------------------
    @override
    def validate_settings(
        self, config: MutableMapping[str, Any], *, raise_errors: bool
    ) -> list[str]:
        """The SDK's validation, with JSON-string objects parsed and secrets never echoed."""
        install()
        REDACTOR.add(secret_values(config, self.destinations))
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        return validate_config(config, schema, raise_errors=raise_errors)

    def _ledger_failed(self, exc: Exception) -> None:
        """The ledger writer failed: stop the run with one line naming `ledger_uri`."""
        text = (
            str(exc) if isinstance(exc, LedgerError) else f"ledger_uri: {type(exc).__name__}: {exc}"
        )
        self.pipeline.stop(StopDelivery(REDACTOR(text.splitlines()[0] if text else "ledger_uri")))

    @override
    def before_input(self) -> None:
        """Open the ledger and resend what earlier runs left pending."""
        self.message_reader.ended = self.release_records
        if self.memory is not None and not self.memory.started:
            self.memory.start()
            self.reading = True
            count = self.pipeline.retry_pending()
            if count:
                self.logger.info("Resending %d records left pending by earlier runs", count)
        self.reading = True

    # end of run ---------------------------------------------------------------------------
    @override
    def process_endofpipe(self) -> None:
        """Deliver what is buffered, wait for the lanes, emit the last state, log the summary."""
        if self._finished:
            return
        self.release_records()  # held records of input not read by `listen` (a test's)
        self._finished = True
        self.pipeline.finish()
        self.progress.stop()
        self.dead.close()
        if self.dry_run is not None:
            self.dry_run.close()
        stopped = self.pipeline.stopped
        if stopped is not None:
            self.logger.error("%s", stopped.message)
        routes = [rt.stats for rt in self.pipeline.routes]
        rejected = sum(r.rejected for r in routes)
        failed = stopped is not None or self.input_error is not None
        if failed:
            halted = stopped is not None or str(self.input_error).startswith("terminated")
            status = "stopped" if halted else "input error"
        else:
            status = "rejections" if rejected else "ok"
        self.exit_code = 1 if failed or rejected else 0
        if self.memory is not None:
            try:
                self.memory.finish(status)
            except Exception as exc:
                reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                self.logger.error("ledger_uri: could not write the run history: %s", reason)
                self.exit_code = 1
        if rejected:
            self.logger.warning("%d rejected records written to %s", rejected, self.dead.path)
        if self.tracker.held:
            self.logger.warning("%d STATE messages held back (records not done)", self.tracker.held)
        path = setting(self.config, "summary_path")
        if path:
            extra: dict[str, Any] = {
                "dead_letter_path": str(self.dead.path),
                "dry_run": self.dry_run is not None,
            }
            if self.memory is not None:
                extra["ledger_uri"] = self.ledger_shown
            try:
                write_json(path, routes, dict(self.ignored), status, extra)
            except OSError as exc:
                self.exit_code = self.exit_code or 1
                reason = exc.strerror or type(exc).__name__
                self.logger.error("Cannot write %s (%s): check `summary_path`", path, reason)
        self.logger.info(
            "%s", summary_line(routes, dict(self.ignored), status, self.dry_run is not None)
        )

    @override
    def on_signal(self, signum: int) -> None:
        raise Terminated(f"terminated by signal {signum}")

    def fail_input(self, exc: BaseException) -> None:
        """Malformed input: one line, then deliver what was read and finish."""
        text = str(exc.args[0]) if exc.args else type(exc).__name__
        if isinstance(exc, RecursionError):
            text = "JSON nested too deeply to process: treated as malformed input"
        if isinstance(exc, Terminated):
            self.input_error = text
            self.logger.error("Stopping: %s; delivering what was read", text)
            self.process_endofpipe()
            return
        if not text.startswith("line "):
            text = f"line {self.line_number}: {text}"
        self.input_error = text.splitlines()[0] if text else text
        self.logger.error("Input error: %s", self.input_error)
        self.process_endofpipe()

    @classmethod
    @override
    def print_about(cls, output_format: str | None = None) -> None:
        """The SDK's `--about`, plus each destination's route types and their options."""
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            super().print_about(output_format)
        print(with_routes(buffer.getvalue(), output_format, cls.destinations))

    @classmethod
    @override
    def invoke(  # type: ignore[override]  # the options the CLI passes, keyword-only
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: t.Any = None,
        file_input: t.IO[str] | None = None,
    ) -> None:
        """Run the target; exit non-zero on rejections, stops, input or config errors."""
        if about:
            super().invoke(about=about, about_format=about_format, config=config)
            return
        cls.print_version(print_fn=cls.logger.info)
        try:
            target = cls(
                config=config.config if config else None,
                validate_config=True,
                parse_env_config=config.parse_env if config else False,
            )
        except ConfigError as exc:
            cls.logger.error("Configuration error: %s", REDACTOR(str(exc)))
            sys.exit(2)
        except ConfigValidationError as exc:
            exit_on_config_error(cls.logger, exc)
        try:
            with fewer_collections():
                target.listen(file_input)
        except (*INPUT_ERRORS, UnmappedStream, Terminated) as exc:
            target.fail_input(exc)
        except StopDelivery:
            target.process_endofpipe()
        except LedgerError as exc:
            target.pipeline.stop(StopDelivery(REDACTOR(str(exc))))
            if not target.reading:  # the ledger could not be opened: nothing was sent
                target.logger.error("%s", REDACTOR(str(exc)))
                target.pipeline.finish()
                target.progress.stop()
                sys.exit(2)
            target.process_endofpipe()  # mid-run: what was not delivered stays unacknowledged
        except ConfigError as exc:
            target.logger.error("Configuration error: %s", REDACTOR(str(exc)))
            target.process_endofpipe()
            sys.exit(2)
        if target.exit_code:
            sys.exit(target.exit_code)
