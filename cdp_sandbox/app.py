"""The sandbox's route table and shared state: what every vendor module registers into.

Vendor modules (`primedata`, `dmartech`, `engagelab`, `nxcloud`) each expose
`register(app)`, which adds their routes with `app.route(method, path, handler)`.
A handler takes a `Request` and returns a `Response`. They import this module (and
`limits`), never the HTTP server, which imports them.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cdp_sandbox.config import Faults, SandboxConfig

if TYPE_CHECKING:
    from cdp_sandbox.workspace import Workspace


@dataclass
class Request:
    """One HTTP request as a handler sees it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # keys lower-cased
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    """One HTTP answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


class Store:
    """What each destination accepted, guarded by one lock, plus per-route call counters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: dict[str, Any] = {}
        self.calls: dict[str, int] = {}

    def reset(self) -> None:
        with self.lock:
            self.data.clear()
            self.calls.clear()

    def count_call(self, key: str) -> None:
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1


class FaultInjector:
    """Decides, per vendor call, whether to delay, fail, drop or rate-limit it."""

    def __init__(self, faults: Faults) -> None:
        self.lock = threading.Lock()
        self.configure(faults)

    def configure(self, faults: Faults) -> None:
        with self.lock:
            self.faults = faults
            self.rng = random.Random(faults.seed)
            self.window_start = time.monotonic()
            self.window_calls = 0
            self.injected: dict[str, int] = {"error": 0, "drop": 0, "rate_limit": 0}

    def decide(self) -> str | None:
        """Return None (serve it), "error", "drop" or "rate_limit"."""
        f = self.faults
        with self.lock:
            if f.rate_limit > 0:
                now = time.monotonic()
                if now - self.window_start >= 1.0:
                    self.window_start, self.window_calls = now, 0
                self.window_calls += 1
                if self.window_calls > f.rate_limit:
                    self.injected["rate_limit"] += 1
                    return "rate_limit"
            roll = self.rng.random()
            if roll < f.error_rate:
                self.injected["error"] += 1
                return "error"
            if roll < f.error_rate + f.drop_rate:
                self.injected["drop"] += 1
                return "drop"
        return None


class App:
    """The routing table and shared state of one sandbox instance."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store()
        self.faults = FaultInjector(config.faults)
        self.routes: dict[tuple[str, str], Handler] = {}
        self.prefix_routes: list[tuple[str, str, Handler]] = []
        self.stats = {"requests": 0}
        self.primedata: Workspace | None = None  # set by `primedata.register`

    def route(self, method: str, path: str, handler: Handler, *, prefix: bool = False) -> None:
        """Serve `method path` (or every path under it when `prefix`) with `handler`."""
        if prefix:
            self.prefix_routes.append((method, path, handler))
        else:
            self.routes[(method, path)] = handler

    def find(self, method: str, path: str) -> Handler | None:
        handler = self.routes.get((method, path))
        if handler is None:
            for m, p, h in self.prefix_routes:
                if m == method and path.startswith(p):
                    return h
        return handler

    # control endpoints -------------------------------------------------------------
    def control(self, request: Request) -> Response:
        """`/_sandbox/...`: received data, reset, faults, health."""
        path = request.path
        if path == "/_sandbox/health":
            return Response(200, {"ok": True})
        if path == "/_sandbox/received" and request.method == "GET":
            with self.store.lock:
                body = json.loads(json.dumps(self.store.data))
                calls = dict(self.store.calls)
            if request.query.get("summary"):
                body = {k: _summarize(v) for k, v in body.items()}
            return Response(200, {"received": body, "calls": calls})
        if path == "/_sandbox/reset" and request.method == "POST":
            self.store.reset()
            return Response(200, {"ok": True})
        if path == "/_sandbox/faults":
            if request.method == "POST":
                self.faults.configure(Faults(**request.json()))
            return Response(
                200, {"faults": asdict(self.faults.faults), "injected": self.faults.injected}
            )
        if path == "/_sandbox/stats":
            return Response(200, {**self.stats, "injected": self.faults.injected})
        handler = self.find(request.method, path)  # vendor modules' own control routes
        if handler is not None:
            return handler(request)
        return Response(404, {"error": {"code": "not_found", "message": path}})


def _summarize(value: Any) -> Any:
    """Replace lists by their length, recursively, for `?summary=1`."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return {k: _summarize(v) for k, v in value.items()}
    return value
