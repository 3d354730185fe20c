"""A run's delivery, built from the settings: routes, destinations, lanes, ledger, progress.

Each route's destination is built once per destination and checks the route; every secret
a destination or the ledger URL holds is registered with the redactor before anything runs.
A setting that cannot work (an unknown destination, `delete_missing` where the vendor cannot
delete, `diff` without a ledger) is one `ConfigError` naming the route and the setting.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from target_cdp.deadletter import DeadLetters
from target_cdp.delivery import Lane, Pipeline, RouteRuntime
from target_cdp.dryrun import DryRun
from target_cdp.ledger.memory import RunMemory
from target_cdp.ledger.store import Ledger, LedgerError, parse_uri, shown
from target_cdp.progress import RouteProgress
from target_cdp.redact import REDACTOR, install
from target_cdp.routes import Route
from target_cdp.sender import Sender
from target_cdp.settings import setting, throttle
from target_cdp.state import StateTracker
from target_cdp.summary import RouteStats
from target_cdp.vendors.base import ConfigError, Destination


@dataclass
class Wiring:
    """What one run delivers with; `progress` is already logging."""

    routes: dict[str, list[RouteRuntime]]
    """The routes of each mapped stream."""
    tracker: StateTracker
    pipeline: Pipeline
    dead: DeadLetters
    progress: RouteProgress
    dry_run: DryRun | None = None
    memory: RunMemory | None = None
    ledger_shown: str = field(default="")
    """The ledger's URL without its password (for the summary)."""


def wire(
    cfg: Mapping[str, Any],
    destinations: Mapping[str, type[Destination]],
    logger: logging.Logger,
    write_state: Callable[[Any], None],
    ledger_failed: Callable[[Exception], None],
) -> Wiring:
    """Build the run's delivery from the settings (ConfigError when they cannot work)."""
    routes = [Route.from_config(entry) for entry in cfg.get("mappings") or []]
    instances: dict[str, Destination] = {}
    for route in routes:
        cls = destinations.get(route.destination)
        if cls is None:
            known = ", ".join(sorted(destinations)) or "none installed"
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
    dry_run = DryRun(setting(cfg, "dry_run_path")) if setting(cfg, "dry_run") else None
    memory, ledger_shown = _open_memory(cfg, routes, instances, read_only=dry_run is not None)
    dead = DeadLetters(setting(cfg, "dead_letter_path"))
    tracker = StateTracker(write_state)
    pipeline = Pipeline(tracker, dead, logger, float(setting(cfg, "state_flush_seconds")))
    wired: dict[str, tuple[Sender, list[Lane]]] = {}
    for name, dest in instances.items():
        limits = throttle(cfg, dest.settings)
        sender = Sender(
            dest,
            limits,
            max_tries=int(setting(cfg, "max_tries")),
            timeout=float(setting(cfg, "request_timeout")),
            max_wait=float(setting(cfg, "max_retry_wait")),
            stop=pipeline.stop_event,
            dry_run=dry_run,
        )
        wired[name] = (sender, pipeline.add_lanes(name, limits.max_concurrency))
    by_stream: dict[str, list[RouteRuntime]] = defaultdict(list)
    for route in routes:
        sender, lanes = wired[route.destination]
        dest = instances[route.destination]
        runtime = RouteRuntime(route, dest, sender, lanes, RouteStats(route.label))
        if memory is not None:
            diff = route.diff if route.diff is not None else route.type in dest.diff_route_types
            runtime.memory = memory.route(
                route, dest, runtime.stats, bool(diff), bool(route.delete_missing)
            )
        by_stream[route.stream].append(pipeline.add_route(runtime))
    if memory is not None:
        memory.done = tracker.done
        memory.writer.on_error = ledger_failed
    progress = RouteProgress(
        float(setting(cfg, "progress_seconds")),
        lambda: [runtime.stats for runtime in pipeline.routes],
        logger,
        tracker,
    )
    progress.start()
    return Wiring(dict(by_stream), tracker, pipeline, dead, progress, dry_run, memory, ledger_shown)


def _open_memory(
    cfg: Mapping[str, Any],
    routes: list[Route],
    instances: dict[str, Destination],
    *,
    read_only: bool,
) -> tuple[RunMemory | None, str]:
    """The run's ledger (not connected yet: `listen` opens it) and its URL as shown, or
    `(None, "")` with `none`."""
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
        return None, ""
    ledger = Ledger(url, read_only=read_only)
    for dest in instances.values():
        dest.ids = ledger
    memory = RunMemory(
        ledger,
        retry_failed=bool(setting(cfg, "retry_failed")),
        full_resync=bool(setting(cfg, "full_resync")),
    )
    return memory, shown(url)
