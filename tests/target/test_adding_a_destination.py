"""A fourth destination needs one module: `fake_vendor.py` (Acme), registered the way any
destination outside `target_cdp/vendors/` is (an entry point in its distribution's metadata),
run through the real `target-cdp` program against a small HTTP server started here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
TOKEN = "acme-token-s3cr3t"


class AcmeServer(ThreadingHTTPServer):
    """Acme's API as `fake_vendor` describes it; keeps the contacts it accepted."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), AcmeHandler)
        self.contacts: list[dict[str, Any]] = []
        self.calls = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class AcmeHandler(BaseHTTPRequestHandler):
    server: AcmeServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.calls += 1
        if self.path != "/contacts":
            return self._answer(404, None)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._answer(401, None)
        if any("email" not in c for c in body["contacts"]):
            return self._answer(400, {"code": 7, "message": "a contact has no email"})
        self.server.contacts += [{**c, "list": body["list"]} for c in body["contacts"]]
        return self._answer(200, {"code": 0})

    def _answer(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def acme() -> Iterator[AcmeServer]:
    server = AcmeServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def registered(tmp_path: Path, entry_point: str = "fake_vendor:Acme") -> dict[str, str]:
    """The environment of a Python that has a distribution registering `entry_point`."""
    dist = tmp_path / "site" / "acme_cdp-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-cdp\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[target_cdp.destinations]\nacme = {entry_point}\n")
    path = os.pathsep.join([str(dist.parent), str(HERE)])
    return {**os.environ, "PYTHONPATH": path}


def target(tmp_path: Path, env: dict[str, str], *args: str, stdin: str = "") -> Any:
    return subprocess.run(
        [sys.executable, "-m", "target_cdp", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )


def messages() -> str:
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "email": {"type": "string"}},
    }
    lines: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "people", "schema": schema, "key_properties": ["id"]}
    ]
    for n in range(1, 6):
        row = {"id": n} if n == 4 else {"id": n, "email": f"p{n}@example.com"}
        lines.append({"type": "RECORD", "stream": "people", "record": row})
    lines.append({"type": "STATE", "value": {"done": 5}})
    return "".join(json.dumps(line) + "\n" for line in lines)


def test_a_destination_from_one_module_delivers_end_to_end(tmp_path, acme):
    env = registered(tmp_path)
    config = {
        "acme": {"url": acme.url, "token": TOKEN},
        "mappings": [{"stream": "people", "destination": "acme", "type": "contact", "list": "vip"}],
        "max_retry_wait": 0.1,
        "progress_seconds": 0,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = target(tmp_path, env, "--config", "config.json", stdin=messages())
    assert done.returncode == 1, done.stderr  # one record dead-lettered
    assert sorted(c["id"] for c in acme.contacts) == [1, 2, 3, 5]
    assert {c["list"] for c in acme.contacts} == {"vip"}
    [dead] = [json.loads(line) for line in (tmp_path / "target-cdp-rejected.jsonl").open()]
    assert (dead["record"]["id"], dead["error"]["code"]) == (4, "7")
    assert [json.loads(line) for line in done.stdout.splitlines()] == [{"done": 5}]
    assert TOKEN not in done.stdout + done.stderr + json.dumps(dead)


def test_its_route_types_and_options_show_in_about(tmp_path):
    done = target(tmp_path, registered(tmp_path), "--about", "--format=json")
    assert done.returncode == 0, done.stderr
    about = json.loads(done.stdout)
    assert about["route_types"]["acme"]["contact"]["properties"]["list"]["type"] == ["string"]
    assert {"dmartech", "engagelab", "nxcloud"} <= set(about["route_types"])
    assert about["settings"]["properties"]["acme"]["properties"]["token"]["secret"] is True


def test_its_route_options_are_checked(tmp_path, acme):
    config = {
        "acme": {"url": acme.url, "token": TOKEN},
        "mappings": [{"stream": "people", "destination": "acme", "type": "contact"}],
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = target(tmp_path, registered(tmp_path), "--config", "config.json", stdin=messages())
    assert done.returncode == 2
    assert "route 'people -> acme:contact': options must contain ['list']" in done.stderr
    assert acme.calls == 0


def test_a_destination_that_cannot_be_imported_stops_with_one_line_naming_it(tmp_path):
    env = registered(tmp_path, "no_such_module:Acme")
    done = target(tmp_path, env, "--about")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "acme = no_such_module:Acme" in line
    assert "No module named 'no_such_module'" in line
