"""(10) The delivery ledger's cost: Dmartech `user` route (diff on), users from a file.

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
from benchmarks.harness import TARGET, Result, Settings, one_run, pairs, sampled, summary
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
        print(f"[bench] scenario 10: no PostgreSQL ({exc}); its rows are skipped", file=sys.stderr)
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


def _runs(box: SandboxProcess, s: Settings, data: Path, fresh: Any, tag: str,
          limits: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """A first run on a fresh ledger, then an unchanged rerun on it."""
    cfg = _config(box, s, fresh(), tag, limits)

    def run() -> Any:
        return run_pipeline([[TARGET, "--config", str(cfg)]], stdin=data,
                            workdir=s.workdir, count_output=False)  # fmt: skip

    return one_run(box, run), one_run(box, run)


def ledger_cost(s: Settings) -> Result:
    """(10) ledger cost: first run vs `ledger_uri: none`, unchanged rerun, SQLite and PostgreSQL."""
    res = Result()
    n = s.records
    data = write_users_file(s.workdir.parent / "data" / f"users-{n}.jsonl", n)
    every: dict[str, list[dict[str, Any]]] = {}
    with sandbox(profiles=10, events_per_profile=10) as box, _postgres() as pg:
        none_cfg = _config(box, s, "none", "none")

        def sqlite_uri() -> str:
            path = s.workdir / f"ledger-{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path.resolve()}"

        def pg_uri() -> str:
            return str(pg.url(pg.create_database()))

        for _ in range(max(1, s.repeat)):  # each repeat: every pair, one after the other
            every.setdefault("none", []).append(one_run(box, lambda: run_pipeline(
                [[TARGET, "--config", str(none_cfg)]], stdin=data, workdir=s.workdir,
                count_output=False)))  # fmt: skip
            pairs_now = [("sqlite", sqlite_uri, False), ("limits", sqlite_uri, True)]
            if pg is not None:
                pairs_now.append(("pg", pg_uri, False))
            for db, fresh, limits in pairs_now:
                first, rerun = _runs(box, s, data, fresh, db, limits)
                every.setdefault(f"{db}_first", []).append(first)
                every.setdefault(f"{db}_rerun", []).append(rerun)
    for stale in s.workdir.glob("ledger-*.db*"):
        stale.unlink()
    runs = {key: summary(found) for key, found in every.items()}
    res.details.update(records=n, **runs)

    def rps(r: dict[str, Any]) -> float | None:
        return n / r["wall_s"] if r["ok"] and r["wall_s"] else None

    plain = runs["none"]
    res.rows.append(sampled("10 ledger none", "records/s", pairs(plain, None, rps), "", None,
                            f"{n:,} users, Dmartech user, batch {s.batch_size}; "
                            f"{plain['requests']} requests"))  # fmt: skip
    for db, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL"), ("limits", "SQLite 20/s")):
        if f"{db}_first" not in runs:
            continue
        first, rerun = runs[f"{db}_first"], runs[f"{db}_rerun"]
        if db == "limits":  # against the same settings: Dmartech's batch 500 and 20 calls/s
            res.rows.append(sampled(f"10 ledger {name}", "first run records/s",
                                    pairs(first, None, rps), "", None,
                                    "Dmartech defaults: batch 500, 20 calls/s"))  # fmt: skip
        else:
            res.rows.append(sampled(f"10 ledger {name}", "first run records/s",
                                    pairs(first, plain, rps), "ratio >= 0.85", 0.85,
                                    "vs ledger_uri: none"))  # fmt: skip
        res.rows.append(sampled(f"10 ledger {name}", "unchanged rerun records/s",
                                pairs(rerun, first, rps), "ratio >= 3", 3.0,
                                f"vs its first run; {rerun['requests']} requests"))  # fmt: skip
    return res
