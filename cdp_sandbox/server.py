"""The sandbox's HTTP core: routing, fault injection and the `/_sandbox/` control endpoints.

Vendor modules (`primedata`, `dmartech`, `engagelab`, `nxcloud`) each expose
`register(app)`, which adds their routes with `app.route(method, path, handler)`.
A handler takes a `Request` and returns a `Response`.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cdp_sandbox.config import Faults, SandboxConfig


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
        self.primedata: Any = None  # the PrimeData workspace, set by `primedata.register`

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


def _make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class SandboxHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stalls
        server_version = "cdp-sandbox"

        def log_message(self, format: str, *args: Any) -> None:  # silence access log
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Request(
                method=self.command,
                path=split.path,
                query={k: v[-1] for k, v in parse_qs(split.query).items()},
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            if split.path.startswith("/_sandbox/"):
                try:
                    self._send(app.control(request))
                except Exception as exc:  # a bad control call must answer, not drop
                    self._send(
                        Response(400, {"error": {"code": "bad_request", "message": repr(exc)}})
                    )
                return
            app.stats["requests"] += 1
            faults = app.faults.faults
            if faults.latency_ms:
                time.sleep(faults.latency_ms / 1000)
            fault = app.faults.decide()
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "error":
                status = random.choice((500, 502, 503))
                self._send(
                    Response(
                        status, {"error": {"code": "server_error", "message": "injected fault"}}
                    )
                )
                return
            if fault == "rate_limit":
                self._send(
                    Response(
                        429,
                        {
                            "error": {
                                "code": "rate_limit_error",
                                "message": "Too many requests hit the API too quickly.",
                            }
                        },
                        {"Retry-After": str(faults.retry_after)},
                    )
                )
                return
            handler = app.find(self.command, split.path)
            if handler is None:
                self._send(
                    Response(
                        404, {"error": {"code": "not_found", "message": f"no route {split.path}"}}
                    )
                )
                return
            try:
                response = handler(request)
            except Exception as exc:  # a sandbox bug must show, not hang the client
                response = Response(500, {"error": {"code": "sandbox_error", "message": repr(exc)}})
            self._send(response)

        def _send(self, response: Response) -> None:
            payload = (
                response.body
                if isinstance(response.body, bytes)
                else json.dumps(response.body, ensure_ascii=False).encode("utf-8")
            )  # bytes: pre-encoded JSON
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return SandboxHandler


class SandboxServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one `App`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        super().__init__((host, port), _make_handler(app))

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer is normal (a killed run, a timeout): no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):  # BrokenPipe, ConnectionReset...
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def build_app(config: SandboxConfig | None = None) -> App:
    """An `App` with every vendor registered."""
    from cdp_sandbox import dmartech, engagelab, nxcloud, primedata

    app = App(config or SandboxConfig())
    for vendor in (primedata, dmartech, engagelab, nxcloud):
        vendor.register(app)
    return app


def start_in_thread(config: SandboxConfig | None = None, port: int = 0) -> SandboxServer:
    """Start a sandbox on a background thread (for tests); call `.shutdown()` to stop it."""
    server = SandboxServer(build_app(config), port=port)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="cdp-sandbox", daemon=True
    )
    thread.start()
    return server
