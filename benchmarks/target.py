"""Scenarios 3, 4 and 11: the target from a Singer file against the plain-Python baseline.

3 and 4 send Dmartech `event_batch` (an events route: `diff` off, so the SQLite ledger only
keeps run history and failures); 11 sends users on a Dmartech `user` route with `diff` on,
each repeat a first run on a fresh SQLite ledger (every record fingerprinted and written).
"""

from __future__ import annotations

import uuid
from typing import Any

from benchmarks import configs
from benchmarks.capacity import dmartech_capacity
from benchmarks.harness import (
    SDK_TARGET_RPS,
    TARGET,
    Result,
    Row,
    Settings,
    events_file,
    latency_rows,
    measured_pair,
    pairs,
    rate,
    sampled,
    target_pair,
)
from benchmarks.ledger import write_users_file
from benchmarks.measure import Run, SandboxProcess, python_cmd, run_pipeline, sandbox


def target_throughput(s: Settings) -> Result:
    """(3) target, Dmartech `event_batch`, validation on, from a pre-generated Singer file."""
    res = Result()
    data = events_file(s, s.records)
    with sandbox(profiles=10, events_per_profile=10) as box:
        res.details["sandbox_capacity"] = dmartech_capacity(box, data, s.batch_size, s.concurrency)
        base, ours = target_pair(s, box, data, "s3", s.repeat)
    n = s.records
    samples = pairs(ours, base, lambda r: rate(n, r))
    res.details.update(records=n, baseline=base, ours=ours)
    res.rows.append(
        sampled(
            "3 target dmartech",
            "records/s",
            samples,
            "ratio >= 0.8",
            0.8,
            f"{n} records, batch {s.batch_size}, SQLite ledger on; delivered {ours['delivered']}",
        )
    )
    res.rows.append(
        sampled(
            "3 target dmartech",
            "records/s vs SDK default",
            [(o, SDK_TARGET_RPS) for o, _ in samples],
            ">= 2x 9k",
            2.0,
        )
    )
    res.rows.append(cpu_row("3 target dmartech", n, ours, base))
    cap = res.details["sandbox_capacity"]
    res.rows.append(
        Row(
            "3 sandbox",
            "event_batch posts/s",
            cap["requests_per_s"],
            None,
            "",
            None,
            f"= {cap['records_per_s']:.0f} records/s accepted; server side "
            f"{cap['server_requests_per_cpu_s'] or 0:.0f} posts per CPU-second",
        )
    )
    return res


def cpu_row(name: str, n: int, ours: dict[str, Any], base: dict[str, Any]) -> Row:
    """Records per CPU-second (user + system, all threads) against the baseline's: on a busy
    machine wall time follows CPU time, and CPU time moves less with the load."""

    def per_cpu(r: dict[str, Any]) -> float | None:
        return n / r["cpu_s"] if r["ok"] and r["cpu_s"] else None

    note = f"CPU s ours {ours['cpu_s']:.1f}, baseline {base['cpu_s']:.1f} (median runs)"
    return sampled(name, "records / CPU s", pairs(ours, base, per_cpu), "", None, note)


def target_latency(s: Settings) -> Result:
    """(4) target with per-request latency: wall against requests x latency / concurrency."""
    res = Result()
    data = events_file(s, s.latency_records)
    with sandbox(profiles=10, events_per_profile=10, latency_ms=s.latency_ms) as box:
        base, ours = target_pair(s, box, data, "s4", s.repeat)
    res.details.update(records=s.latency_records, baseline=base, ours=ours)
    res.rows += latency_rows("4 target +latency", s, ours, base)
    return res


def users_config(box: SandboxProcess, s: Settings, ledger_uri: str, tag: str) -> dict[str, Any]:
    """Dmartech `user` route for `users` (diff on, the default for users) with `ledger_uri`."""
    return {
        "dmartech": {
            "api_url": box.url + configs.DMARTECH_PATH,
            "secret": configs.CREDS.dmartech_secret,
            "primary_keys": ["user_id"],
            "batch_size": s.batch_size,
            "requests_per_second": 1_000_000,  # the sandbox is not rate limited
        },
        "mappings": [{"stream": "users", "destination": "dmartech", "type": "user"}],
        "max_concurrency": s.concurrency,
        "dead_letter_path": str(s.workdir / f"rejected-{tag}.jsonl"),
        "ledger_uri": ledger_uri,
    }


def target_users(s: Settings) -> Result:
    """(11) target, Dmartech `user` route with `diff` on, first run on a fresh SQLite ledger."""
    res = Result()
    n = s.records
    data = write_users_file(s.workdir.parent / "data" / f"users-{n}.jsonl", n)
    with sandbox(profiles=10, events_per_profile=10) as box:
        base_cfg = configs.write_json(
            s.workdir / "target-s11-base.json", users_config(box, s, "none", "s11")
        )

        def ours() -> Run:  # each repeat a first run: a ledger of its own
            db = s.workdir / f"ledger-s11-{uuid.uuid4().hex[:8]}.db"
            cfg = configs.write_json(
                s.workdir / "target-s11.json",
                users_config(box, s, f"sqlite:///{db.resolve()}", "s11"),
            )
            return run_pipeline([[TARGET, "--config", str(cfg)]], stdin=data, workdir=s.workdir)

        base, mine = measured_pair(
            box,
            lambda: run_pipeline(
                [python_cmd("benchmarks.baselines", "target", "--config", str(base_cfg))],
                stdin=data,
                workdir=s.workdir,
            ),
            ours,
            s.repeat,
        )
    for stale in s.workdir.glob("ledger-s11-*.db*"):
        stale.unlink()
    samples = pairs(mine, base, lambda r: rate(n, r))
    res.details.update(records=n, baseline=base, ours=mine)
    res.rows.append(
        sampled(
            "11 target dmartech user",
            "records/s",
            samples,
            "ratio >= 0.8",
            0.8,
            f"{n} users, diff on, first run, fresh SQLite ledger; delivered {mine['delivered']}",
        )
    )
    res.rows.append(cpu_row("11 target dmartech user", n, mine, base))
    return res
