"""Helpers for the delivery-ledger tests: a Dmartech `users` route, its input, and reading
the ledger back with SQLAlchemy (the same database the target wrote, never a mock)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from core_fake import Result, run

from target_cdp.target import TargetCDP

USERS_SCHEMA = {
    "type": "SCHEMA",
    "stream": "users",
    "schema": {
        "type": "object",
        "properties": {
            "user_id": {"type": "string"},
            "email": {"type": ["string", "null"]},
            "name": {"type": ["string", "null"]},
            "score": {"type": ["integer", "null"]},
        },
    },
    "key_properties": ["user_id"],
}


def user(i: int, version: int | None = None, **fields: Any) -> dict[str, Any]:
    """A RECORD for user `u{i}`; `fields` override its values."""
    rec = {"user_id": f"u{i}", "email": f"u{i}@example.com", "name": f"User {i}", "score": i}
    rec.update(fields)
    message: dict[str, Any] = {"type": "RECORD", "stream": "users", "record": rec}
    if version is not None:
        message["version"] = version
    return message


def config(sandbox: Any, tmp_path: Path, ledger_uri: str, **extra: Any) -> dict[str, Any]:
    route = {"stream": "users", "destination": "dmartech", "type": "user"}
    route.update(extra.pop("route", {}))
    cfg = {
        "dmartech": {
            "api_url": f"{sandbox.url}/api/v1/api/import",
            "secret": sandbox.credentials.dmartech_secret,
            "batch_size": 5,
            **extra.pop("dmartech", {}),
        },
        "mappings": [route, *extra.pop("more_routes", [])],
        "ledger_uri": ledger_uri,
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "dry_run_path": str(tmp_path / "dry.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "max_tries": 2,
        "max_retry_wait": 0.1,
        "progress_seconds": 0,
    }
    cfg.update(extra)
    return cfg


def deliver(cfg: dict, messages: list, tmp_path: Path, caplog) -> Result:
    return run(cfg, messages, tmp_path, caplog, target_class=TargetCDP)


def route_summary(result: Result, label: str = "users -> dmartech:user") -> dict[str, Any]:
    return next(r for r in result.summary["routes"] if r["route"] == label)


def dmartech(sandbox: Any) -> dict[str, Any]:
    return sandbox.received().get("dmartech", {})


def upserts(sandbox: Any) -> list[dict[str, Any]]:
    return dmartech(sandbox).get("users", [])


def rows(uri: str, table: str) -> list[dict[str, Any]]:
    """Every row of a ledger table."""
    url = sa.engine.make_url(uri)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    finally:
        engine.dispose()


def execute(uri: str, sql: str) -> None:
    url = sa.engine.make_url(uri)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()
