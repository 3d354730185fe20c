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
"""

from __future__ import annotations

import io
import sys
import typing as t
from collections import defaultdict
from contextlib import redirect_stdout
from typing import Any
from urllib.parse import quote

from singer_sdk import Target
from singer_sdk.exceptions import (
    ConfigValidationError,
    InvalidJSONSchema,
    MissingKeyPropertiesError,
    RecordsWithoutSchemaException,
)
from singer_sdk.singerlib.exceptions import InvalidInputLine

from cdp_common.config_errors import exit_on_config_error, validate_config
from cdp_common.stream_maps import is_identity_map
from target_cdp.about import with_routes
from target_cdp.batchfiles import consume_batch
from target_cdp.deadletter import DeadLetters
from target_cdp.delivery import Lane, Pipeline, RouteRuntime, StopDelivery
from target_cdp.dryrun import DryRun
from target_cdp.ledger.memory import RunMemory
from target_cdp.ledger.store import Ledger, LedgerError, parse_uri, shown
from target_cdp.progress import Progress
from target_cdp.reader import LineReader
from target_cdp.redact import REDACTOR, install
from target_cdp.routes import Route
from target_cdp.sender import Sender
from target_cdp.settings import build_config_schema, secret_values, setting, throttle
from target_cdp.sinks import CDPSink
from target_cdp.state import StateTracker
from target_cdp.summary import RouteStats, summary_line, write_json
from target_cdp.vendors import DestinationLoadError, load_destinations
from target_cdp.vendors.base import ConfigError, Destination

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


class UnmappedStream(Exception):
    """A stream has no route and `unmapped_streams` is `fail`."""


class Terminated(Exception):
    """SIGTERM/SIGINT: stop reading, deliver what was read, emit its state."""


class TargetCDP(Target):
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
        self.ignored: dict[str, int] = defaultdict(int)
        self._finished = False
        self._routes: dict[str, list[RouteRuntime]] = defaultdict(list)
        self._versions: dict[str, set[Any]] = defaultdict(set)  # versions seen per stream
        self._announced: dict[str, set[Any]] = defaultdict(set)  # ACTIVATE_VERSION before records
        self._build_delivery()

    # setup --------------------------------------------------------------------------------
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's validation, with JSON-string objects parsed and secrets never echoed."""
        install()
        REDACTOR.add(secret_values(self._config, self.destinations))
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        return validate_config(self._config, schema, raise_errors=raise_errors)

    def _build_delivery(self) -> None:
        cfg = self.config
        routes = [Route.from_config(entry) for entry in cfg.get("mappings") or []]
        instances: dict[str, Destination] = {}
        for route in routes:
            cls = self.destinations.get(route.destination)
            if cls is None:
                known = ", ".join(sorted(self.destinations)) or "none installed"
                msg = (
                    f"mappings: route for stream '{route.stream}' names destination "
                    f"'{route.destination}' (known: {known})"
                )
                raise ConfigError(msg)
            if route.destination not in instances:
                dest = cls(cfg.get(route.destination) or {})
                REDACTOR.add(dest.secrets())
                instances[route.destination] = dest
            instances[route.destination].check_route(route)
        install()
        self.dry_run = DryRun(setting(cfg, "dry_run_path")) if setting(cfg, "dry_run") else None
        self.memory = self._open_memory(cfg, routes, instances)
        self.dead = DeadLetters(setting(cfg, "dead_letter_path"))
        self.tracker = StateTracker(self._write_state_message)
        self.pipeline = Pipeline(
            self.tracker, self.dead, self.logger, float(setting(cfg, "state_flush_seconds"))
        )
        wired: dict[str, tuple[Sender, list[Lane]]] = {}
        for name, dest in instances.items():
            limits = throttle(cfg, dest.settings)
            sender = Sender(
                dest,
                limits,
                max_tries=int(setting(cfg, "max_tries")),
                timeout=float(setting(cfg, "request_timeout")),
                max_wait=float(setting(cfg, "max_retry_wait")),
                stop=self.pipeline.stop_event,
                dry_run=self.dry_run,
            )
            wired[name] = (sender, self.pipeline.add_lanes(name, limits.max_concurrency))
        for route in routes:
            sender, lanes = wired[route.destination]
            dest = instances[route.destination]
            runtime = RouteRuntime(route, dest, sender, lanes, RouteStats(route.label))
            if self.memory is not None:
                diff = route.diff if route.diff is not None else route.type in dest.diff_route_types
                runtime.memory = self.memory.route(
                    route, dest, runtime.stats, bool(diff), bool(route.delete_missing)
                )
            self._routes[route.stream].append(self.pipeline.add_route(runtime))
        if self.memory is not None:
            self.memory.done = self.tracker.done
            self.memory.writer.on_error = self._ledger_failed
        self.progress = Progress(
            float(setting(cfg, "progress_seconds")),
            lambda: [runtime.stats for runtime in self.pipeline.routes],
            self.logger,
            self.tracker,
        )
        self.progress.start()

    def _open_memory(
        self, cfg: t.Mapping[str, Any], routes: list[Route], instances: dict[str, Destination]
    ) -> RunMemory | None:
        """The run's ledger (not connected yet: `listen` opens it), or None with `none`."""
        try:
            url = parse_uri(setting(cfg, "ledger_uri"))
        except LedgerError as exc:
            raise ConfigError(str(exc)) from None
        if url is not None and url.password:
            REDACTOR.add([str(url.password), quote(str(url.password), safe="")])
            install()
        for route in routes:
            dest = instances[route.destination]
            if route.delete_missing and not dest.can_delete_missing(route):
                raise ConfigError(
                    f"mappings: route '{route.label}' sets delete_missing, which "
                    f"{dest.name} '{route.type}' routes do not support (no delete API)"
                )
            if url is None and (route.delete_missing or route.diff):
                option = "delete_missing" if route.delete_missing else "diff"
                raise ConfigError(
                    f"mappings: route '{route.label}' sets {option}, which needs the ledger "
                    "(ledger_uri is none)"
                )
        if url is None:
            return None
        ledger = Ledger(url, read_only=self.dry_run is not None)
        for dest in instances.values():
            dest.ids = ledger
        self.ledger_shown = shown(url)
        return RunMemory(
            ledger,
            retry_failed=bool(setting(cfg, "retry_failed")),
            full_resync=bool(setting(cfg, "full_resync")),
        )

    def _ledger_failed(self, exc: Exception) -> None:
        """The ledger writer failed: stop the run with one line naming `ledger_uri`."""
        text = (
            str(exc) if isinstance(exc, LedgerError) else f"ledger_uri: {type(exc).__name__}: {exc}"
        )
        self.pipeline.stop(StopDelivery(REDACTOR(text.splitlines()[0] if text else "ledger_uri")))

    def listen(self, file_input: t.IO[str] | None = None) -> None:
        """Open the ledger and resend what earlier runs left pending, then read the input."""
        if self.memory is not None and not self.memory.started:
            self.memory.start()
            self.reading = True
            count = self.pipeline.retry_pending()
            if count:
                self.logger.info("Resending %d records left pending by earlier runs", count)
        self.reading = True
        super().listen(file_input)

    def routes_for(self, stream: str) -> list[RouteRuntime]:
        """The routes of one (mapped) stream; empty when the stream is unmapped."""
        return self._routes.get(stream, [])

    # messages -----------------------------------------------------------------------------
    @property
    def line_number(self) -> int:
        return getattr(self.message_reader, "line_number", 0)

    def _process_schema_message(self, message_dict: dict) -> None:
        super()._process_schema_message(message_dict)
        for stream_map in self.mapper.stream_maps[message_dict["stream"]]:
            alias = stream_map.stream_alias
            if alias in self._routes or alias in self.ignored:
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

    def _process_record_message(self, message_dict: dict) -> None:
        if "stream" not in message_dict or "record" not in message_dict:
            self._assert_line_requires(message_dict, requires={"stream", "record"})
        stream = message_dict["stream"]
        maps = self.mapper.stream_maps.get(stream)
        if maps is None:
            msg = f"line {self.line_number}: a RECORD for stream '{stream}' came before its SCHEMA"
            raise RecordsWithoutSchemaException(msg)
        for stream_map in maps:
            raw = message_dict["record"] if len(maps) == 1 else dict(message_dict["record"])
            record = raw if is_identity_map(stream_map) else stream_map.transform(raw)
            if record is None:
                continue
            alias = stream_map.stream_alias
            sink = self._sinks_active.get(alias)
            if sink is None:
                msg = (
                    f"line {self.line_number}: a RECORD for stream '{alias}' came before its SCHEMA"
                )
                raise RecordsWithoutSchemaException(msg)
            t.cast(CDPSink, sink).accept(record, message_dict, self.line_number)
            version = message_dict.get("version")
            if version is not None:
                self._versions[alias].add(version)

    def _process_state_message(self, message_dict: dict) -> None:
        self._assert_line_requires(message_dict, requires={"value"})
        value = message_dict["value"]
        if not isinstance(value, dict):
            msg = (
                f"line {self.line_number}: a STATE message's value must be a JSON object, "
                f"not {type(value).__name__}"
            )
            raise InvalidInputLine(msg)
        self.tracker.checkpoint(value)
        self.pipeline.on_state()

    def _process_activate_version_message(self, message_dict: dict) -> None:
        """A full-table version is complete when its ACTIVATE_VERSION follows its records (or
        a first one announcing it): then `delete_missing` routes delete what it lacks."""
        self._assert_line_requires(message_dict, requires={"stream", "version"})
        if not self.config.get("process_activate_version_messages", True):  # the SDK's switch
            return
        stream, version = message_dict["stream"], message_dict["version"]
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

    def _process_batch_message(self, message_dict: dict) -> None:
        """A BATCH message: its files (read by the SDK) are processed as RECORD messages."""
        line = self.line_number
        stream = message_dict.get("stream")
        if self.mapper.stream_maps.get(stream) is None:
            msg = f"line {line}: a BATCH for stream '{stream}' came before its SCHEMA"
            raise RecordsWithoutSchemaException(msg)
        maps = self.mapper.stream_maps[stream]
        sink = next((self._sinks_active[m.stream_alias] for m in maps
                     if m.stream_alias in self._sinks_active), None)  # fmt: skip
        if sink is None:  # every map of the stream drops it
            return

        def on_record(record: dict) -> None:
            self._process_record_message({"type": "RECORD", "stream": stream, "record": record})

        consume_batch(message_dict, line, t.cast(CDPSink, sink), on_record)

    # end of run ---------------------------------------------------------------------------
    def process_endofpipe(self) -> None:
        """Deliver what is buffered, wait for the lanes, emit the last state, log the summary."""
        if self._finished:
            return
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
            extra = {"dead_letter_path": str(self.dead.path), "dry_run": self.dry_run is not None}
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

    def _handle_termination(self, signum: int, frame: t.Any) -> None:
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
    def print_about(cls, output_format: str | None = None) -> None:
        """The SDK's `--about`, plus each destination's route types and their options."""
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            super().print_about(output_format)
        print(with_routes(buffer.getvalue(), output_format, cls.destinations))

    @classmethod
    def invoke(  # type: ignore[override]
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
