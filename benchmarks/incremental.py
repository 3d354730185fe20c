"""Run after run over HTTP (scenarios 7 and 8): a first run builds the state, 1% changes, and
the run after it is measured against `baselines.py incremental` doing the same two requests a
lookup (its profile, its events since its newest event) from a plain JSON dict.

The first run's output is kept (`tee`) to take its final STATE for the tap and to build the
baseline's dict from the records it emitted. Then, through the sandbox's control endpoints,
1% of the profiles get new traits (moving their `last_updated`) and another 1% of the lookups
get one to three events stamped before the first run started (late arrivals). Both measured
runs must emit exactly those: the changed profiles and the added events, by id.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests

from benchmarks import configs
from benchmarks.harness import TAP, Settings, measured
from benchmarks.measure import SandboxProcess, python_cmd, run_pipeline

EVENTS_PER_PROFILE = 3  # read once by the first run; the measured run reads one page a lookup
CHANGED = 0.01


def singer_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as lines:
        yield from lines


def states_of(path: Path) -> list[bytes]:
    """The STATE lines of a Singer file, in order."""
    return [line for line in singer_lines(path) if line.startswith(b'{"type":"STATE"')]


def emitted(path: Path) -> dict[str, list[str]]:
    """The ids emitted by stream (`profile_id` for profiles, `id` for events)."""
    out: dict[str, list[str]] = defaultdict(list)
    for line in singer_lines(path):
        if line.startswith(b'{"type":"RECORD"'):
            msg = orjson.loads(line)
            record = msg["record"]
            out[msg["stream"]].append(record["id" if msg["stream"] == "events" else "profile_id"])
    return out


def known_from(path: Path) -> dict[str, list[Any]]:
    """The baseline's state after a first run: per profile id `[last_updated, newest
    time_stamp, [event ids at it]]`, from the records the tap emitted."""
    known: dict[str, list[Any]] = {}
    for line in singer_lines(path):
        if not line.startswith(b'{"type":"RECORD"'):
            continue
        msg = orjson.loads(line)
        record = msg["record"]
        entry = known.setdefault(record["profile_id"], [None, None, []])
        if msg["stream"] == "profiles":
            entry[0] = record["last_updated"]
        elif entry[1] is None or record["time_stamp"] > entry[1]:
            entry[1], entry[2] = record["time_stamp"], [record["id"]]
        elif record["time_stamp"] == entry[1]:
            entry[2].append(record["id"])
    return known


@dataclass
class Changes:
    """What changed in the sandbox after the first run."""

    profiles: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return len(self.profiles) + len(self.events)

    def matches(self, got: dict[str, list[str]]) -> bool:
        """Whether `got` (ids by stream) is exactly these changes, each once."""
        profiles, events = got.get("profiles", []), got.get("events", [])
        return (
            len(profiles) == len(set(profiles))
            and len(events) == len(set(events))
            and set(profiles) == self.profiles
            and set(events) == self.events
        )


def apply_changes(box: SandboxProcess, ids: list[str], before: float, seed: int = 5) -> Changes:
    """New traits for 1% of the profiles; one to three events, stamped in the hour before
    `before` (epoch seconds), for another 1% of the lookups."""
    rng = random.Random(seed)
    count = max(1, int(len(ids) * CHANGED))
    changes = Changes()
    with requests.Session() as session:
        for pid in rng.sample(ids, count):
            resp = session.post(
                f"{box.url}/_sandbox/primedata/profiles",
                json={"profile_id": pid, "trait": {"full_name": "Lê Thị Mới"}},
                timeout=30,
            )
            resp.raise_for_status()
            changes.profiles.add(pid)
        for pid in rng.sample(ids, count):
            events = [
                {
                    "event_name": rng.choice(("PageView", "AppOpened")),
                    "time_stamp": time.strftime(
                        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(before - rng.randrange(60, 3_600))
                    ),
                }
                for _ in range(rng.randint(1, 3))
            ]
            resp = session.post(
                f"{box.url}/_sandbox/primedata/events",
                json={"profile_id": pid, "events": events},
                timeout=30,
            )
            resp.raise_for_status()
            changes.events.update(resp.json()["ids"])
    return changes


def state_bytes(line: bytes) -> dict[str, int]:
    """Bytes of a STATE line, of its value, and of each stream's bookmarks (compact JSON)."""
    value = orjson.loads(line)["value"]
    out = {"line": len(line.rstrip(b"\n")), "value": len(orjson.dumps(value))}
    for stream, bookmarks in (value.get("bookmarks") or {}).items():
        out[stream] = len(orjson.dumps(bookmarks))
    return out


@dataclass
class RunAfterRun:
    """One sandbox, its lookups, and the files of a first run and the runs measured after it."""

    box: SandboxProcess
    s: Settings
    lookups: int
    concurrency: int
    tag: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        wd = self.s.workdir
        self.ids = configs.profile_ids(self.box, self.lookups)
        self.config = configs.write_json(
            wd / f"tap-{self.tag}.json",
            configs.tap_config(self.box, self.ids, self.concurrency),
        )
        self.state = wd / f"state-{self.tag}.json"
        self.known = wd / f"known-{self.tag}.json"
        self.changes = Changes()

    def _out(self, name: str) -> Path:
        return self.s.workdir / f"out-{self.tag}-{name}.jsonl"

    def first_run(self) -> dict[str, Any]:
        """Read everything once (timed on its own), keep its final state, apply the changes."""
        started = time.time()
        out = self._out("first")
        info = measured(
            self.box, lambda: run_pipeline([[TAP, "--config", str(self.config)]],
                                           workdir=self.s.workdir, tee=out)
        )  # fmt: skip
        if not info["ok"]:
            raise RuntimeError(f"first run failed: {info.get('stderr_tail')}")
        want = self.lookups * (1 + EVENTS_PER_PROFILE)
        if info["records_out"] != want:
            raise RuntimeError(f"first run emitted {info['records_out']} records, {want} expected")
        final = states_of(out)[-1]
        self.state.write_bytes(orjson.dumps(orjson.loads(final)["value"]))
        self.known.write_bytes(orjson.dumps(known_from(out)))
        info["final_state"] = state_bytes(final)
        out.unlink()  # hundreds of MB at 100k lookups
        self.changes = apply_changes(self.box, self.ids, started)
        self.details["first"] = info
        self.details["changes"] = {
            "profiles": len(self.changes.profiles),
            "events": len(self.changes.events),
        }
        return info

    def baseline(self) -> dict[str, Any]:
        out = self._out("baseline")
        cmd = python_cmd(
            "benchmarks.baselines", "incremental", "--config", str(self.config),
            "--state", str(self.known), "--state-out", str(self.known.with_suffix(".after.json")),
        )  # fmt: skip
        info = measured(self.box, lambda: run_pipeline([cmd], workdir=self.s.workdir, tee=out))
        info["exact"] = self.changes.matches(emitted(out))
        info["state_bytes"] = self.known.with_suffix(".after.json").stat().st_size
        self.details["baseline"] = info
        return info

    def ours(self) -> dict[str, Any]:
        out = self._out("ours")
        cmd = [TAP, "--config", str(self.config), "--state", str(self.state)]
        info = measured(self.box, lambda: run_pipeline([cmd], workdir=self.s.workdir, tee=out))
        got = emitted(out)
        info["emitted"] = {k: len(v) for k, v in got.items()}
        info["exact"] = self.changes.matches(got)
        states = [state_bytes(line) for line in states_of(out)]
        info["states"] = states
        info["final_state"] = states[-1] if states else None
        info["largest_state_line"] = max((st["line"] for st in states), default=0)
        self.details["ours"] = info
        return info
