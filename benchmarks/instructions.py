"""Scenario 13: the target of scenarios 3 and 11 and their baselines in instructions executed
(valgrind's callgrind), a figure the load of a shared machine does not move.

Wall and CPU time move by 10-30% from one run to the next on a busy machine; instructions
executed move by well under 1%. Each program runs twice under `valgrind --tool=callgrind` (about
50 times slower than native): on `instruction_records` records and on 200, so that startup
(imports: singer-sdk and SQLAlchemy for ours) is apart from the cost of a record. The ratio is
for the scenario's own size (`records`, 200k), startup included, as records per instruction:
ours over the baseline's, like the other ratios. Skipped when valgrind is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

from benchmarks import configs
from benchmarks.harness import Result, Row, Settings, events_file
from benchmarks.ledger import write_users_file
from benchmarks.measure import SandboxProcess, python_cmd, sandbox
from benchmarks.target import users_config

SMALL = 200  # records of the startup run
_TOTAL = re.compile(rb"^(?:summary|totals): (\d+)", re.M)


def count(valgrind: str, cmd: list[str], data: Path, workdir: Path) -> int:
    """Instructions `cmd` executes (every thread) reading `data` on stdin."""
    out = workdir / f"callgrind-{uuid.uuid4().hex[:8]}.out"
    with open(data, "rb") as stdin:
        done = subprocess.run(
            [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
    try:
        found = _TOTAL.search(out.read_bytes()) if out.exists() else None
    finally:
        out.unlink(missing_ok=True)
    if done.returncode != 0 or found is None:
        tail = done.stderr.decode(errors="replace")[-300:]
        raise RuntimeError(f"{cmd[:3]} under callgrind failed ({done.returncode}): {tail}")
    return int(found.group(1))


def _config(box: SandboxProcess, s: Settings, users: bool, tag: str) -> Path:
    """Scenario 3's or 11's target config, each run on a fresh SQLite ledger."""
    uri = f"sqlite:///{(s.workdir / f'ledger-s13-{uuid.uuid4().hex[:8]}.db').resolve()}"
    if users:
        cfg = users_config(box, s, uri, "s13")
    else:
        cfg = configs.target_config(box, s.concurrency, s.batch_size, s.workdir)
        cfg["ledger_uri"] = uri
    return configs.write_json(s.workdir / f"target-s13-{tag}.json", cfg)


def _cost(valgrind: str, box: SandboxProcess, s: Settings, users: bool, ours: bool,
          files: tuple[Path, Path]) -> dict[str, float]:  # fmt: skip
    """Startup and per-record instructions of ours or the baseline."""
    runs = []
    for data in files:
        cfg = str(_config(box, s, users, "ours" if ours else "base"))
        module = ("target_cdp", "--config", cfg) if ours else ("benchmarks.baselines", "target",
                                                                "--config", cfg)  # fmt: skip
        runs.append(count(valgrind, python_cmd(*module), data, s.workdir))
    small, large = runs
    per_record = (large - small) / (s.instruction_records - SMALL)
    return {"startup": small - SMALL * per_record, "per_record": per_record}


def instructions(s: Settings) -> Result:
    """(13) target, scenarios 3 and 11 in instructions executed (callgrind), ours and baseline."""
    res = Result()
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        res.rows.append(Row("13 instructions", "skipped", None, note="valgrind not installed"))
        return res
    n = s.instruction_records
    shapes = {
        "3 target dmartech": (False, (events_file(s, SMALL), events_file(s, n))),
        "11 target dmartech user": (True, tuple(
            write_users_file(s.workdir.parent / "data" / f"users-{k}.jsonl", k) for k in (SMALL, n)
        )),
    }  # fmt: skip
    with sandbox(profiles=10, events_per_profile=10) as box:
        for name, (users, files) in shapes.items():
            pair = (files[0], files[1])
            ours, base = (_cost(valgrind, box, s, users, who, pair) for who in (True, False))
            res.details[name] = {"ours": ours, "baseline": base, "records_counted": n}
            res.rows.append(_row(name, s.records, ours, base))
    for stale in s.workdir.glob("ledger-s13-*.db*"):
        stale.unlink()
    return res


def _row(name: str, records: int, ours: dict[str, float], base: dict[str, float]) -> Row:
    def per_g(cost: dict[str, float]) -> float:  # records per 10^9 instructions at `records`
        return records / (cost["startup"] + records * cost["per_record"]) * 1e9

    note = (
        f"instructions a record {ours['per_record'] / 1e3:.0f}k vs {base['per_record'] / 1e3:.0f}k,"
        f" startup {ours['startup'] / 1e9:.2f} G vs {base['startup'] / 1e9:.2f} G"
    )
    return Row(f"13 {name}", f"records / G instr. at {records // 1000}k", per_g(ours), per_g(base),
               note=note)  # fmt: skip
