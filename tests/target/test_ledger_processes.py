"""The ledger under real processes: two shards writing one ledger at once, and runs killed
with SIGKILL at random points, on a SQLite file and on PostgreSQL. Compared with what the
sandbox's Dmartech received: nothing lost, nothing sent twice, the destination ends equal
to the source."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ledger_helpers import USERS_SCHEMA, config, deliver, rows, upserts, user

from cdp_demo.pipeline import executable


def _start(cfg: dict[str, Any], messages: list, folder: Path) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "target.json").write_text(json.dumps(cfg))
    (folder / "input.jsonl").write_text("".join(json.dumps(m) + "\n" for m in messages))
    return subprocess.Popen(
        [executable("target-cdp"), "--config", str(folder / "target.json")],
        stdin=(folder / "input.jsonl").open("rb"),
        stdout=(folder / "stdout").open("wb"),
        stderr=(folder / "stderr").open("wb"),
        cwd=folder,
    )


def _states(folder: Path) -> list[Any]:
    text = (folder / "stdout").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _shard_config(sandbox, tmp_path, ledger_uri, name):
    return config(
        sandbox, tmp_path, ledger_uri,
        dmartech={"batch_size": 10},
        max_concurrency=2,
        dead_letter_path=str(tmp_path / name / "dead.jsonl"),
        summary_path=str(tmp_path / name / "summary.json"),
    )  # fmt: skip


def test_two_shards_share_one_ledger_nothing_lost_nothing_twice(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri)
    sandbox.set_faults(error_rate=1.0, seed=2)
    deliver(cfg, [USERS_SCHEMA, *[user(i) for i in range(10)]], tmp_path, caplog)  # pending
    sandbox.set_faults(latency_ms=3)
    shards = {"a": range(100, 400), "b": range(400, 700)}
    inputs = {n: [USERS_SCHEMA, *[user(i) for i in ids]] for n, ids in shards.items()}
    procs = {
        n: _start(_shard_config(sandbox, tmp_path, ledger_uri, n), inputs[n], tmp_path / n)
        for n in shards
    }
    for name, proc in procs.items():
        assert proc.wait(timeout=180) == 0, (tmp_path / name / "stderr").read_text()[-3000:]
    sent = Counter(u["user_id"] for u in upserts(sandbox))
    expected = {f"u{i}" for i in [*range(10), *range(100, 700)]}
    assert set(sent) == expected, "a record was lost"
    assert max(sent.values()) == 1, f"sent twice: {[k for k, v in sent.items() if v > 1]}"
    assert rows(ledger_uri, "cdp_failures") == []
    assert len(rows(ledger_uri, "cdp_delivered")) == len(expected)
    retried = [json.loads((tmp_path / n / "summary.json").read_text()) for n in shards]
    assert sum(s["totals"]["retried"] for s in retried) == 10

    calls = sandbox.calls().get("dmartech:import", 0)
    procs = {
        n: _start(_shard_config(sandbox, tmp_path, ledger_uri, n), inputs[n], tmp_path / f"{n}2")
        for n in shards
    }
    for proc in procs.values():
        assert proc.wait(timeout=180) == 0
    assert sandbox.calls().get("dmartech:import", 0) == calls, "a rerun sent something"


def _round(ids: range, rnd: int) -> list[dict]:
    """The source in round `rnd`: every third user changes each round; a STATE every 25."""
    out: list[dict] = [USERS_SCHEMA]
    for n, i in enumerate(ids):
        out.append(user(i, score=i + (rnd * 1000 if i % 3 == 0 else 0)))
        if n % 25 == 24:
            out.append({"type": "STATE", "value": {"round": rnd, "done": n + 1}})
    return out


def test_sigkill_at_random_points_then_rerun_ends_equal_to_the_source(
    sandbox, tmp_path, caplog, ledger_uri
):
    ids = range(300)
    rng = random.Random(ledger_uri.split(":")[0])
    sandbox.set_faults(latency_ms=10)
    for rnd in (1, 2, 3):
        cfg = _shard_config(sandbox, tmp_path, ledger_uri, f"r{rnd}")
        source = _round(ids, rnd)
        kill_after = rng.randint(1, 25)
        proc = _start(cfg, source, tmp_path / f"r{rnd}")
        deadline = time.monotonic() + 60
        while sandbox.calls().get("dmartech:import", 0) < kill_after:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(rng.random() * 0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        states = _states(tmp_path / f"r{rnd}")
        # resume as the tap would: after the last STATE the target wrote
        done = states[-1]["done"] if states and states[-1]["round"] == rnd else 0
        rest = [USERS_SCHEMA, *[user(i, score=i + (rnd * 1000 if i % 3 == 0 else 0))
                                for i in list(ids)[done:]]]  # fmt: skip
        resumed = _start(cfg, rest, tmp_path / f"r{rnd}-resume")
        assert resumed.wait(timeout=180) == 0, (tmp_path / f"r{rnd}-resume" / "stderr").read_text()
        final: dict[str, int] = {}
        for u in upserts(sandbox):
            final[u["user_id"]] = u["score"]
        want = {f"u{i}": i + (rnd * 1000 if i % 3 == 0 else 0) for i in ids}
        assert final == want, f"round {rnd}: the destination differs from the source"
    sandbox.set_faults()
    calls = sandbox.calls().get("dmartech:import", 0)
    again = _start(_shard_config(sandbox, tmp_path, ledger_uri, "last"), _round(ids, 3),
                   tmp_path / "last")  # fmt: skip
    assert again.wait(timeout=120) == 0
    assert sandbox.calls().get("dmartech:import", 0) == calls, "unchanged input was resent"
