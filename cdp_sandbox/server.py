"""The sandbox's HTTP server: serves one `App` (see `app.py`), with fault injection.

`build_app` registers every module of `VENDORS`; a new emulated API is one module with a
`register(app)` function, listed there.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cdp_sandbox import dmartech, engagelab, nxcloud, primedata
from cdp_sandbox.app import App, Request, Response
from cdp_sandbox.config import SandboxConfig

VENDORS = (primedata, dmartech, engagelab, nxcloud)


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
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"


def build_app(config: SandboxConfig | None = None) -> App:
    """An `App` with every vendor of `VENDORS` registered."""
    app = App(config or SandboxConfig())
    for vendor in VENDORS:
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
