"""Small misbehaving HTTP servers on loopback, for the bad-input suite.

`Misbehaving(mode)` answers every request the way `mode` says: a server error, a reset
connection, a hang, a redirect, a body that is not JSON, a cursor that never ends, an answer
echoing the request headers, an EngageLab code 0 carrying failed items. It records what it
received (paths and headers) so tests can check what was sent.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Misbehaving

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.record(self.path, dict(self.headers), body)
        getattr(self, f"_{self.server.mode}")(body)

    do_GET = do_POST

    # modes -------------------------------------------------------------------------------
    def _server_error(self, body: bytes) -> None:
        self._reply(503, {"error": {"code": "server_error", "message": "down for maintenance"}})

    def _reset(self, body: bytes) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _hang(self, body: bytes) -> None:
        time.sleep(3)
        self.close_connection = True

    def _redirect(self, body: bytes) -> None:
        self._reply(307, {}, {"Location": f"{self.server.elsewhere}{self.path}"})

    def _not_json(self, body: bytes) -> None:
        self._reply(200, b"<html><body>Gateway says hello</body></html>")

    def _cursor_loop(self, body: bytes) -> None:
        if "profiles" in self.path:
            self._reply(200, {"data": {"profile_id": "P1", "identity": {}, "trait": {}}})
        else:
            self._reply(200, {"data": [], "cursor": {"has_more": True, "next": "c2FtZQ=="}})

    def _echo_headers(self, body: bytes) -> None:
        """NXCloud-like: refuse the data, echoing every request header in the message."""
        echoed = ", ".join(f"{k}={v}" for k, v in self.headers.items())
        self._reply(200, {"code": 1001, "message": f"missing parameter; request headers: {echoed}"})

    def _engagelab_partial(self, body: bytes) -> None:
        """EngageLab-like: euids for every identity, then code 0 listing failed events."""
        request = json.loads(body or b"{}")
        if self.path.startswith("/v1/user/register"):
            data = [
                {"identity_value": v, "euid": 1000 + n}
                for n, v in enumerate(request.get("identity_values", []))
            ]
            self._reply(200, {"code": 0, "message": "success", "data": data})
            return
        failed = [
            {"random_id": e.get("random_id"), "reason": "invalid property"}
            for e in request.get("data", [])[:2]
        ]
        self._reply(200, {"code": 0, "message": "partial success", "data": {"failed": failed}})


class Misbehaving(ThreadingHTTPServer):
    """A loopback server answering every request according to `mode`."""

    daemon_threads = True

    def __init__(self, mode: str, elsewhere: str = "") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.elsewhere = elsewhere
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # resets and hangs are the point here

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        with self._lock:
            self.requests.append((path, headers, body))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
