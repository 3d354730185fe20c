"""Full sync, filters, date bounds and incremental runs, over real HTTP against the sandbox."""

from __future__ import annotations

import itertools

import pytest
from tap_helpers import (
    append_events,
    by_profile,
    expected_events,
    profile_ids,
    run_tap,
    tap_config,
    workspace,
)

from cdp_sandbox.timeformat import parse_ts, to_rfc3339
from tap_primedata import timestamps as ts
from tap_primedata.bookmarks import STATE_KEY, EventBookmarks
from tap_primedata.lookups import Lookup
from tap_primedata.packing import Table

FAR = "2100-01-01T00:00:00Z"


def key(text: str) -> int:
    return ts.to_key(ts.parse(text))


def events_state(output) -> dict:
    return output.final_state["bookmarks"]["events"][STATE_KEY]


def test_full_sync_equals_workspace(sandbox):
    out = run_tap(tap_config(sandbox))
    assert out.events() == expected_events(sandbox)
    for records in by_profile(out.records("events")).values():  # each profile in time order
        times = [parse_ts(r["time_stamp"]) for r in records]
        assert times == sorted(times)
    ws = workspace(sandbox)
    profiles = {r["profile_id"]: r for r in out.records("profiles")}
    assert len(profiles) == ws.profiles
    for i in range(ws.profiles):
        want = ws.profile(i)
        got = profiles[want["profile_id"]]
        assert got["last_updated"] == to_rfc3339(want["last_updated"])
        assert (got["identity"], got["trait"], got["p_trait"]) == (
            want["identity"],
            want["trait"],
            want["p_trait"],
        )
        assert got["lookup"] == {"profile_id": want["profile_id"]}
    state = events_state(out)  # compact: one packed table, a row per lookup
    assert len(state["tables"]) == 1
    assert len(Table.unpack(state["tables"][0])) == ws.profiles


def test_identity_lookups_and_profiles_file(sandbox, tmp_path):
    ws = workspace(sandbox)
    emails = [ws.identities(i)["email"][0] for i in range(3)]
    lines = [{"identity": "phone_number", "value": ws.identities(3)["phone_number"][0]}]
    lines += [{"profile_id": ws.profile_id(4)}, {"profile_id": ws.profile_id(4)}]  # duplicate
    path = tmp_path / "lookups.jsonl"
    path.write_text("\n".join(__import__("json").dumps(line) for line in lines) + "\n\n")
    config = tap_config(sandbox, profile_ids=None, identities={"email": emails})
    out = run_tap({**config, "profiles_file": str(path)})
    assert out.events() == expected_events(sandbox, 5)
    lookups = [r["lookup"] for r in out.records("profiles")]
    assert len(lookups) == 5
    assert {"identity": "email", "value": emails[0]} in lookups


def test_filters(sandbox):
    names = ["PageView", "AppOpened"]
    out = run_tap(tap_config(sandbox, event_names=names, profile_types=["trait"]))
    assert out.events() == expected_events(sandbox, include=names)
    for record in out.records("profiles"):
        assert record["trait"] and record["identity"] is None and record["p_trait"] is None


def test_start_and_end_date(sandbox):
    start, end = "2024-03-01T00:00:00Z", "2025-01-01T00:00:00Z"
    out = run_tap(tap_config(sandbox, start_date=start, end_date=end))
    expected = expected_events(sandbox, start=start, end=end)
    assert expected and out.events() == expected


def test_incremental_runs_with_appended_events(sandbox):
    ids = profile_ids(sandbox)
    e1, e2 = "2025-06-01T00:00:00Z", "2025-09-01T00:00:00Z"
    first = run_tap(tap_config(sandbox, end_date=e1))
    assert first.events() == expected_events(sandbox, end=e1)

    added = append_events(sandbox, ids[0], [
        {"event_name": "PageView", "time_stamp": e1},  # exactly the last run's (exclusive) end
        {"event_name": "PageView", "time_stamp": "2025-06-01T07:00:00"},  # naive
        {"event_name": "AppOpened", "time_stamp": "2025-06-01T07:00:00Z"},  # a tie
        {"event_name": "AppOpened", "time_stamp": e2},  # for the third run
    ])  # fmt: skip
    added += append_events(sandbox, ids[1], [{"event_name": "PageView",
                                              "time_stamp": "2025:07:01T00:00:00Z"}])  # fmt: skip
    second = run_tap(tap_config(sandbox, end_date=e2), state=first.final_state)
    window2 = set(expected_events(sandbox, end=e2)) - set(expected_events(sandbox, end=e1))
    assert set(second.events()) == window2
    assert set(added[:3]) | {added[4]} <= window2

    third = run_tap(tap_config(sandbox), state=second.final_state)
    everything = expected_events(sandbox)
    assert set(third.events()) == set(everything) - set(expected_events(sandbox, end=e2))
    assert added[3] in third.events()

    fourth = run_tap(tap_config(sandbox), state=third.final_state)
    assert fourth.events() == {}
    runs = [first, second, third]
    union = [i for run in runs for i in run.events()]
    assert len(union) == len(set(union)) and set(union) == set(everything)
    assert len(events_state(fourth)["tables"]) == 1


def test_added_lookup_gets_whole_history(sandbox):
    ids, start = profile_ids(sandbox), "2023-06-01T00:00:00Z"
    first = run_tap(tap_config(sandbox, profile_ids=ids[:5], start_date=start))
    assert first.events() == expected_events(sandbox, 5, start=start)
    second = run_tap(tap_config(sandbox, profile_ids=ids[:8], start_date=start), first.final_state)
    newcomers = set(expected_events(sandbox, 8, start=start)) - set(first.events())
    assert newcomers and set(second.events()) == newcomers


def _tie_cuts(output, sandbox) -> list[int]:
    """Indexes of STATE messages taken between two events of one profile at the same time."""
    ws = workspace(sandbox)
    times: dict[int, list[int]] = {}
    for i in range(ws.profiles):
        lookup_id = Lookup(ws.profile_id(i)).id
        times[lookup_id] = [key(e["time_stamp"]) for e in ws.events_for(i, sort="asc")]
    cuts, index = [], -1
    for message in output.messages:
        if message["type"] != "STATE":
            continue
        index += 1
        marks = EventBookmarks(message["value"]["bookmarks"]["events"], None, FAR)
        for lookup_id, at in times.items():
            bookmark = marks.bookmark_for(lookup_id)
            if bookmark and bookmark.fps and at.count(bookmark.key) > len(bookmark.fps):
                cuts.append(index)
                break
    return cuts


def _cut(output, state_index: int) -> tuple[set[str], dict]:
    """The event ids emitted before the `state_index`-th STATE, and that STATE."""
    seen, index = set(), -1
    for message in output.messages:
        if message["type"] == "STATE":
            index += 1
            if index == state_index:
                return seen, message["value"]
        elif message["type"] == "RECORD" and message["stream"] == "events":
            seen.add(message["record"]["id"])
    raise AssertionError("no such STATE")


@pytest.mark.parametrize("concurrency", [1, 4])
def test_resume_after_interruption_loses_nothing(sandbox, concurrency):
    config = tap_config(sandbox, page_size=3, state_interval_records=2, max_concurrency=concurrency)
    full = run_tap(config, streams=("events",))
    everything = set(expected_events(sandbox))
    assert set(full.events()) == everything
    count = len(full.states)
    ties = _tie_cuts(full, sandbox)
    assert ties, "no STATE fell between two events sharing a timestamp"
    cuts = sorted({1, count // 3, count // 2, count - 2, *ties[:3]})
    for cut in cuts:
        before, state = _cut(full, cut)
        resumed = run_tap(config, state=state, streams=("events",))
        after = set(resumed.events())
        assert before | after == everything, f"events lost when resuming from STATE {cut}"
        assert not before & after, f"events emitted twice when resuming from STATE {cut}"
        # and an interruption of the resumed run resumes too
        again_before, again_state = _cut(resumed, max(1, len(resumed.states) // 2))
        last = set(run_tap(config, state=again_state, streams=("events",)).events())
        assert before | again_before | last == everything


def test_per_profile_order_with_ties(sandbox):
    out = run_tap(tap_config(sandbox, page_size=2, max_concurrency=6), streams=("events",))
    ws = workspace(sandbox)
    emitted = by_profile(out.records("events"))
    for i in range(ws.profiles):
        want = [e["id"] for e in ws.events_for(i, sort="asc")]
        got = [r["id"] for r in emitted[ws.profile_id(i)]]
        assert got == want
    pairs = itertools.chain.from_iterable(itertools.pairwise(v) for v in emitted.values())
    assert any(a["time_stamp"] == b["time_stamp"] for a, b in pairs)  # ties were exercised


def test_an_up_to_date_run_logs_no_line_per_lookup(sandbox, caplog):
    first = run_tap(tap_config(sandbox))
    caplog.set_level("INFO")
    caplog.clear()
    again = run_tap(tap_config(sandbox), state=first.final_state)
    assert again.events() == {}
    info = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert not [m for m in info if m.startswith("Pagination stopped")]
    assert len(info) < 30  # a handful of lines, not one per lookup
