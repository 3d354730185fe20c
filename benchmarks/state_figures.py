"""State figures without HTTP (scenario 9): the tap's own bookmark classes, synthetic lookups.

`EventBookmarks` and `ProfileMarks` are driven as the streams drive them, over lookups like a
big customer's: random 64-bit lookup ids (what `stable_id` gives), each lookup's newest event
time spread over 30 days in whole seconds with one event id at it, and a `last_updated` each.
A first run emits every lookup (the state a scheduled sync starts from). The run measured
after it loads that state, then changes `CHANGED` of the lookups (a new `last_updated` for
1%, one to three new events for another 1%), a pass of profiles then one of events (the tap
happens to sync events first; the sizes are the same either way).

STATE is written as the tap writes it: after `EVERY_RECORDS` records (`state_interval_records`)
and, while records are pending, every `EVERY_LOOKUPS` lookups (standing for the time-based
`state_interval_seconds`: 60 s at ~1,000 lookups a second; a fifth of the lookups when fewer,
so small runs write a few too). Each STATE message holds both streams' bookmarks, like the
SDK's.
"""

from __future__ import annotations

import json
import random
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from benchmarks.harness import Result, Row, Settings
from tap_primedata import timestamps as ts
from tap_primedata.bookmarks import STATE_KEY, EventBookmarks
from tap_primedata.profile_marks import ProfileMarks, request_fingerprint

END = "2026-12-01T00:00:00Z"  # the run's `end_date`
SPREAD_S = 30 * 86_400  # newest events and `last_updated` over the 30 days before END
CHANGED = 0.01
EVERY_RECORDS = 10_000
EVERY_LOOKUPS = 60_000
REQUEST = request_fingerprint({})
_END_S = int(datetime.fromisoformat(END.replace("Z", "+00:00")).timestamp())


@dataclass
class Lookups:
    """The synthetic lookups: ids, each one's newest event (key, id) and `last_updated`."""

    ids: list[int]
    newest: list[int]  # microseconds since the epoch, whole seconds
    event_ids: list[str]
    updated: list[str]

    @classmethod
    def make(cls, n: int, seed: int = 7) -> Lookups:
        rng = random.Random(seed)
        ids = list({rng.getrandbits(64): None for _ in range(n)})  # distinct, random order
        while len(ids) < n:  # a 64-bit collision: practically never
            ids.append(rng.getrandbits(64))
        seconds = [_END_S - 1 - rng.randrange(SPREAD_S) for _ in range(n)]
        return cls(
            ids=ids,
            newest=[s * 1_000_000 for s in seconds],
            event_ids=[f"WebSDK.PageView.{rng.getrandbits(40)}" for _ in range(n)],
            updated=[_stamp(s + rng.randrange(3_600)) for s in seconds],
        )


def _stamp(second: int) -> str:
    return ts.format_utc(datetime.fromtimestamp(second, timezone.utc))


@dataclass
class RunFigures:
    """What one simulated run wrote and how long its state work took."""

    lookups: int
    records: dict[str, int] = field(default_factory=dict)
    # CPU seconds (`process_time`: steady on shared cores; the work is single-threaded)
    load_s: float = 0.0  # JSON text -> the two bookmark objects
    loop_us: dict[str, float] = field(default_factory=dict)  # state work a lookup, per stream
    write_s: float = 0.0  # finish() of both streams + the final STATE as JSON text
    states: list[dict[str, Any]] = field(default_factory=list)  # each mid-run STATE
    final: dict[str, int] = field(default_factory=dict)  # bytes: total and per stream
    final_text: str = ""  # the final state, as a `--state` file holds it

    def summary(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("final_text", "states")}
        out["states"] = self.states
        return out


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _state_value(profiles: Any, events: Any) -> dict[str, Any]:
    """The tap's state, with both streams' bookmarks."""
    return {"bookmarks": {"profiles": {STATE_KEY: profiles}, "events": {STATE_KEY: events}}}


def _state_line(profiles: Any, events: Any) -> str:
    """A STATE message as the tap writes it."""
    return _json({"type": "STATE", "value": _state_value(profiles, events)})


def simulate(
    lk: Lookups,
    state_text: str,
    profile_updates: dict[int, str],
    new_events: Callable[[int, int], list[tuple[int, dict]]],
) -> RunFigures:
    """One run over `lk` from the state `state_text`: `profile_updates` (index -> new
    `last_updated`), `new_events(index, bookmark key)` -> the events it emits."""
    fig = RunFigures(len(lk.ids))
    every_lookups = max(1, min(EVERY_LOOKUPS, len(lk.ids) // 5))
    start = time.process_time()
    bookmarks = json.loads(state_text).get("bookmarks", {})
    profiles = ProfileMarks(bookmarks.get("profiles", {}), REQUEST)
    events = EventBookmarks(bookmarks.get("events", {}), None, END)
    fig.load_s = time.process_time() - start
    loaded_events = bookmarks.get("events", {}).get(STATE_KEY)

    def checkpoint(stream: str, done: int, since: int, line: str) -> None:
        fig.states.append(
            {"stream": stream, "lookups_done": done, "records": since, "bytes": len(line)}
        )

    # profiles, every lookup
    pending = records = 0
    start = time.process_time()
    for i, lookup_id in enumerate(lk.ids):
        if profiles.changed(lookup_id, profile_updates.get(i, lk.updated[i])):
            records += 1
            pending += 1
        if pending >= EVERY_RECORDS or (pending and (i + 1) % every_lookups == 0):
            line = _state_line(profiles.checkpoint(), loaded_events)
            checkpoint("profiles", i + 1, records, line)
            pending = 0
    loop = time.process_time() - start
    start = time.process_time()
    profiles_final = profiles.finish()
    write = time.process_time() - start
    fig.loop_us["profiles"] = loop / len(lk.ids) * 1e6
    fig.records["profiles"] = records

    # events, every lookup not up to date
    pending = records = 0
    start = time.process_time()
    for i, lookup_id in enumerate(lk.ids):
        bookmark = events.bookmark_for(lookup_id)
        if events.is_current(bookmark):
            continue
        batch = new_events(i, bookmark.key if bookmark else 0)
        if batch:
            events.advance(lookup_id, bookmark, batch)
            records += len(batch)
            pending += len(batch)
        if pending >= EVERY_RECORDS or (pending and (i + 1) % every_lookups == 0):
            line = _state_line(profiles_final, events.checkpoint())
            checkpoint("events", i + 1, records, line)
            pending = 0
    loop = time.process_time() - start
    start = time.process_time()
    events_final = events.finish()
    fig.final_text = _json(_state_value(profiles_final, events_final))  # a `--state` file
    fig.write_s = write + time.process_time() - start
    fig.loop_us["events"] = loop / len(lk.ids) * 1e6
    fig.records["events"] = records
    fig.final = {
        "total": len(fig.final_text),
        "profiles": len(_json({STATE_KEY: profiles_final})),
        "events": len(_json({STATE_KEY: events_final})),
    }
    return fig


def first_run(lk: Lookups) -> RunFigures:
    """Every lookup new: its profile and its newest event emitted."""

    def newest(i: int, _key: int) -> list[tuple[int, dict]]:
        return [(lk.newest[i], {"id": lk.event_ids[i]})]

    return simulate(lk, "{}", {}, newest)


def changed_run(lk: Lookups, state_text: str, seed: int = 11) -> RunFigures:
    """`CHANGED` of the profiles with a new `last_updated`, `CHANGED` of the lookups with one to
    three new events stamped after their newest (late arrivals included)."""
    rng = random.Random(seed)
    count = max(1, int(len(lk.ids) * CHANGED))
    profile_updates = {
        i: _stamp(lk.newest[i] // 1_000_000 + 7_200) for i in rng.sample(range(len(lk.ids)), count)
    }
    later = {i: rng.randint(1, 3) for i in rng.sample(range(len(lk.ids)), count)}

    def added(i: int, key: int) -> list[tuple[int, dict]]:
        n = later.get(i)
        if not n:
            return []
        return [(key + (k + 1) * 1_000_000, {"id": f"Overlay.PageView.{i}.{k}"}) for k in range(n)]

    fig = simulate(lk, state_text, profile_updates, added)
    fig.records["expected"] = count + sum(later.values())
    return fig


def held_memory(state_text: str) -> dict[str, float]:
    """MiB traced (tracemalloc) while the state is loaded and held, and the peak meanwhile."""
    tracemalloc.start()
    try:
        bookmarks = json.loads(state_text)["bookmarks"]
        held = (
            ProfileMarks(bookmarks["profiles"], REQUEST),
            EventBookmarks(bookmarks["events"], None, END),
        )
        current, peak = tracemalloc.get_traced_memory()
        del held, bookmarks
    finally:
        tracemalloc.stop()
    return {"held_mib": current / 2**20, "peak_mib": peak / 2**20}


def figures(n: int) -> dict[str, Any]:
    """A first run and a run after it with 1% changed, over `n` synthetic lookups."""
    lk = Lookups.make(n)
    first = first_run(lk)
    second = changed_run(lk, first.final_text)
    memory = held_memory(second.final_text)
    largest = max((st["bytes"] for st in second.states), default=0)
    return {
        "lookups": n,
        "first": first.summary(),
        "second": second.summary(),
        "memory": memory,
        "largest_midrun_state": largest,
        "previous_final": first.final["total"],
    }


def state_size(s: Settings) -> Result:
    """(9) state in process at 100k and 1M lookups: bytes, mid-run STATE, load/write, memory."""
    res = Result()
    for n in s.state_sizes:
        fig = figures(n)
        res.details[str(n)] = fig
        first, second, memory = fig["first"], fig["second"], fig["memory"]
        final = second["final"]
        name = f"9 state {n:,}"
        per = final["total"] / n
        res.rows.append(
            Row(
                name,
                "final bytes / lookup",
                per,
                None,
                "<= 16 at 1M",
                per <= 16 if n >= 1_000_000 else None,
                f"events {final['events'] / n:.1f} + profiles {final['profiles'] / n:.1f} B a "
                f"lookup; {final['total']:,} B",
            )
        )
        largest = max(second["states"], key=lambda st: st["bytes"], default=None)
        if largest is not None:
            previous = first["final"]["total"]
            res.rows.append(
                Row(
                    name,
                    "largest mid-run STATE",
                    largest["bytes"],
                    previous,
                    "~ previous state + changes",
                    None,
                    f"{largest['stream']} at {largest['lookups_done']:,} lookups read, "
                    f"{largest['records']:,} records emitted: {largest['bytes'] - previous:+,} B "
                    f"on the previous final state (the baseline column)",
                )
            )
        res.rows.append(
            Row(
                name,
                "load CPU s",
                second["load_s"],
                None,
                "",
                None,
                "state JSON text -> both streams' bookmarks; state work during the run "
                f"{second['loop_us']['profiles']:.1f} + {second['loop_us']['events']:.1f} us a "
                "lookup (profiles + events)",
            )
        )
        res.rows.append(
            Row(name, "write CPU s", second["write_s"], None, "", None, "finish() + final JSON")
        )
        res.rows.append(
            Row(
                name,
                "MiB loading",
                memory["peak_mib"],
                None,
                "",
                None,
                f"tracemalloc peak while loading; {memory['held_mib']:.1f} MiB held once loaded",
            )
        )
    return res
