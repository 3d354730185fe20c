"""(7) The delivery ledger's cost: Dmartech `user` route (diff on), users from a file.

Rows: a first run with a fresh SQLite ledger against `ledger_uri: none` (goal >= 0.85), an
unchanged rerun against that first run (goal >= 3x: nothing is sent), and the same two on a
PostgreSQL server started here as the tests start theirs (skipped when its binaries are absent).
Those run against the unthrottled sandbox, where sending costs little; the `20/s` pair runs
with Dmartech's own defaults (batch 500, its documented 20 calls a second), as users run it.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks import configs
from benchmarks.harness import TARGET, Result, Row, Settings, measured, ratio_ok
from benchmarks.measure import ROOT, SandboxProcess, run_pipeline, sandbox

STATE_EVERY = 10_000

USERS_SCHEMA = {
    "type": "object",
    "properties": {
        "user_id": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "mobile": {"type": ["string", "null"]},
        "full_name": {"type": ["string", "null"]},
        "city": {"type": ["string", "null"]},
        "score": {"type": ["integer", "null"]},
        "updated_at": {"type": ["string", "null"]},
    },
}


def write_users_file(path: Path, records: int) -> Path:
    """SCHEMA `users` (key `user_id`), `records` users, a STATE every 10,000; written once."""
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(orjson.dumps({"type": "SCHEMA", "stream": "users", "schema": USERS_SCHEMA,
                                "key_properties": ["user_id"]}) + b"\n")  # fmt: skip
        for i in range(records):
            rec = {
                "user_id": f"user-{i:08d}",
                "email": f"user{i}@example.com",
                "mobile": f"+1555{i:07d}",
                "full_name": f"User Number {i}",
                "city": ("Hanoi", "Jakarta", "Manila", "Bangkok")[i % 4],
                "score": i % 1000,
                "updated_at": "2025-01-01T00:00:00Z",
            }
            out.write(orjson.dumps({"type": "RECORD", "stream": "users", "record": rec}) + b"\n")
            if (i + 1) % STATE_EVERY == 0:
                out.write(orjson.dumps({"type": "STATE", "value": {"users": i + 1}}) + b"\n")
    done.touch()
    return path


def _config(
    box: SandboxProcess, s: Settings, ledger_uri: str, tag: str, vendor_limits: bool = False
) -> Path:
    """`vendor_limits`: Dmartech's defaults (batch 500, its documented 20 calls a second)
    instead of the unthrottled sandbox settings of the other rows."""
    dmartech: dict[str, Any] = {
        "api_url": box.url + configs.DMARTECH_PATH,
        "secret": configs.CREDS.dmartech_secret,
        "primary_keys": ["user_id"],
    }
    if not vendor_limits:
        dmartech.update(batch_size=s.batch_size, requests_per_second=1_000_000)
    cfg: dict[str, Any] = {
        "dmartech": dmartech,
        "mappings": [{"stream": "users", "destination": "dmartech", "type": "user"}],
        "max_concurrency": s.concurrency,
        "dead_letter_path": str(s.workdir / "rejected.jsonl"),
        "ledger_uri": ledger_uri,
    }
    return configs.write_json(s.workdir / f"target-s7-{tag}.json", cfg)


@contextlib.contextmanager
def _postgres() -> Iterator[Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import postgres_server
    finally:
        sys.path.pop(0)
    try:
        server = postgres_server.start()
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"[bench] scenario 7: no PostgreSQL ({exc}); its rows are skipped", file=sys.stderr)
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


def _pair(
    box: SandboxProcess, s: Settings, data: Path, fresh: Any, tag: str, limits: bool = False
) -> tuple[dict, dict]:
    """A first run on a fresh ledger (each repeat gets a new one), then unchanged reruns."""
    holder: dict[str, Path] = {}

    def first() -> Any:
        holder["cfg"] = _config(box, s, fresh(), tag, limits)
        return run_pipeline([[TARGET, "--config", str(holder["cfg"])]], stdin=data,
                            workdir=s.workdir, count_output=False)  # fmt: skip

    def rerun() -> Any:
        return run_pipeline([[TARGET, "--config", str(holder["cfg"])]], stdin=data,
                            workdir=s.workdir, count_output=False)  # fmt: skip

    return measured(box, first, s.repeat), measured(box, rerun, s.repeat)


def ledger_cost(s: Settings) -> Result:
    """(7) ledger cost: first run vs `ledger_uri: none`, unchanged rerun, SQLite and PostgreSQL."""
    res = Result()
    n = s.records
    data = write_users_file(s.workdir.parent / "data" / f"users-{n}.jsonl", n)
    with sandbox(profiles=10, events_per_profile=10) as box:
        none_cfg = _config(box, s, "none", "none")
        plain = measured(
            box,
            lambda: run_pipeline([[TARGET, "--config", str(none_cfg)]], stdin=data,
                                 workdir=s.workdir, count_output=False),
            s.repeat,
        )  # fmt: skip
        runs: dict[str, Any] = {"none": plain}

        def sqlite_uri() -> str:
            path = s.workdir / f"ledger-{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path.resolve()}"

        runs["sqlite_first"], runs["sqlite_rerun"] = _pair(box, s, data, sqlite_uri, "sqlite")
        runs["limits_first"], runs["limits_rerun"] = _pair(
            box, s, data, sqlite_uri, "limits", limits=True
        )
        with _postgres() as pg:
            if pg is not None:
                pg_fresh = lambda: pg.url(pg.create_database())  # noqa: E731
                runs["pg_first"], runs["pg_rerun"] = _pair(box, s, data, pg_fresh, "pg")
    for stale in s.workdir.glob("ledger-*.db*"):
        stale.unlink()
    res.details.update(records=n, **runs)

    def rps(key: str) -> float | None:
        info = runs.get(key)
        return n / info["wall_s"] if info and info["ok"] and info["wall_s"] else None

    none = rps("none")
    res.rows.append(Row("7 ledger none", "records/s", none, None, "", None,
                        f"{n:,} users, Dmartech user, batch {s.batch_size}; "
                        f"{plain['requests']} requests"))  # fmt: skip
    for db, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL"), ("limits", "SQLite 20/s")):
        first, rerun = rps(f"{db}_first"), rps(f"{db}_rerun")
        if f"{db}_first" not in runs:
            continue
        if db == "limits":  # against the same settings: Dmartech's batch 500 and 20 calls/s
            res.rows.append(Row(f"7 ledger {name}", "first run records/s", first, None, "",
                                None, "Dmartech defaults: batch 500, 20 calls/s"))  # fmt: skip
        else:
            res.rows.append(Row(f"7 ledger {name}", "first run records/s", first, none,
                                "ratio >= 0.85", ratio_ok(first, none, 0.85),
                                "vs ledger_uri: none"))  # fmt: skip
        sent = runs[f"{db}_rerun"]["requests"]
        res.rows.append(Row(f"7 ledger {name}", "unchanged rerun records/s", rerun, first,
                            "ratio >= 3", ratio_ok(rerun, first, 3.0),
                            f"vs its first run; {sent} requests"))  # fmt: skip
    return res
