"""A test-only destination on a throwaway sandbox route, and a helper to run the target."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from singer_sdk import typing as th

from cdp_sandbox.app import Request, Response
from target_cdp.settings import build_config_schema
from target_cdp.target import TargetCDP
from target_cdp.vendors.base import Answer, Call, ConfigError, Destination, Outcome, RecordError

TOKEN = "fake-token-s3cr3t-value"
PATH = "/fake/import"


class FakeDest(Destination):
    """Sends `{"items": [...]}` to the sandbox's fake route with the token in the query."""

    name = "fake"
    route_options = {"item": th.PropertiesList()}
    secret_settings = frozenset({"token"})
    record_metadata = frozenset({"_sdc_deleted_at"})
    settings_schema = th.ObjectType(
        th.Property("url", th.StringType),
        th.Property("token", th.StringType, secret=True),
        th.Property("batch_size", th.IntegerType),
    )
    seen: list[dict[str, Any]] = []  # records as `prepare` saw them

    def __init__(self, settings: Mapping[str, Any]) -> None:
        super().__init__(settings)
        if not self.settings.get("url"):
            raise ConfigError("fake.url is required")

    def prepare(self, route, values, record):
        if "id" not in values:
            raise RecordError("missing_id", "field 'id' is required")
        FakeDest.seen.append(dict(record))
        item = dict(values)
        if record.get("_sdc_deleted_at"):
            item["deleted"] = True
        return item

    def batch_size(self, route, key):
        return int(self.settings.get("batch_size") or 3)

    def build(self, route, items):
        body = json.dumps({"route": route.label, "items": items}).encode()
        url = f"{self.settings['url']}{PATH}?token={self.settings['token']}"
        return Call(
            "POST",
            url,
            body,
            headers={"X-Token": self.settings["token"]},
            label="items",
            sensitive_headers=frozenset({"X-Token"}),
            dry_run_reply={"code": 0},
        )

    def sign(self, call):
        return {"X-Sign": "signed"}

    def classify(self, status, body, headers):
        code = body.get("code") if isinstance(body, dict) else None
        if status == 200 and code == 0:
            return Answer(Outcome.OK, data=body)
        if status == 401:
            return Answer(Outcome.CREDENTIALS, "401", "bad token", setting="token")
        if status == 400:
            return Answer(Outcome.REJECTED, str(code), str(body.get("message")))
        return Answer(Outcome.RETRY, str(status), "transient")


class FakeTarget(TargetCDP):
    destinations = {"fake": FakeDest}
    config_jsonschema = build_config_schema(destinations)


@dataclass
class FakeVendor:
    """The sandbox side: stores accepted items, refuses items with `bad`, checks the token."""

    items: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests += 1
        if request.query.get("token") != TOKEN or request.headers.get("x-token") != TOKEN:
            return Response(401, {"code": 401, "message": "unauthorized"})
        items = request.json()["items"]
        bad = [i for i in items if i.get("bad")]
        if bad:
            return Response(400, {"code": 4001, "message": f"item {bad[0]['id']} is bad"})
        with self.lock:
            self.items.extend(items)
        return Response(200, {"code": 0})


def install_fake(sandbox) -> FakeVendor:
    vendor = FakeVendor()
    sandbox.server.app.route("POST", PATH, vendor.handle)
    return vendor


def schema(stream: str = "people", key: list[str] | None = None, props: dict | None = None) -> dict:
    properties = props or {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": ["id"] if key is None else key,
    }


def record(rec: dict, stream: str = "people") -> dict:
    return {"type": "RECORD", "stream": stream, "record": rec}


def state(value: Any) -> dict:
    """A STATE message whose (object) value carries `value` as a marker the tests follow."""
    return {"type": "STATE", "value": {"marker": value}}


def config(sandbox, tmp_path: Path, **extra: Any) -> dict:
    base = {
        "fake": {"url": sandbox.url, "token": TOKEN, "batch_size": 3},
        "mappings": [{"stream": "people", "destination": "fake", "type": "item"}],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "dry_run_path": str(tmp_path / "dry.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "max_tries": 3,
        "max_retry_wait": 0.2,
        "progress_seconds": 0,
    }
    base.update(extra)
    return base


@dataclass
class Result:
    exit_code: int
    stdout: str
    logs: str
    tmp_path: Path

    @property
    def states(self) -> list[Any]:
        states = [json.loads(line) for line in self.stdout.splitlines() if line.strip()]
        return [s["marker"] if isinstance(s, dict) and "marker" in s else s for s in states]

    @property
    def dead(self) -> list[dict[str, Any]]:
        path = self.tmp_path / "dead.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.tmp_path / "summary.json").read_text())


def run(
    cfg: dict,
    messages: Iterable[dict | str],
    tmp_path: Path,
    caplog,
    target_class: type[TargetCDP] = FakeTarget,
) -> Result:
    """Invoke the target as the CLI would, in-process; return exit code, stdout and logs."""
    lines = "".join((m if isinstance(m, str) else json.dumps(m)) + "\n" for m in messages)
    stdout = io.StringIO()
    caplog.set_level(logging.INFO)
    caplog.clear()
    code = 0
    with redirect_stdout(stdout):
        try:
            target_class.invoke(
                config=SimpleNamespace(config=cfg, parse_env=False),
                file_input=io.StringIO(lines),
            )
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Result(code, stdout.getvalue(), caplog.text, tmp_path)
