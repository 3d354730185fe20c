"""The compact state: packed tables and sets, event bookmarks, profile fingerprints."""

from __future__ import annotations

import base64
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tap_primedata import timestamps as ts
from tap_primedata.bookmarks import (
    FREEZE_ROWS,
    STATE_KEY,
    Bookmark,
    EventBookmarks,
    StateUnreadable,
    fingerprint,
)
from tap_primedata.packing import Table, b85decode, b85encode, pack_ids, unpack_ids
from tap_primedata.profile_marks import ProfileMarks

END = "2025-02-01T00:00:00Z"
u64 = st.integers(min_value=0, max_value=2**64 - 1)


def key(text: str) -> int:
    return ts.to_key(ts.parse(text))


def state_of(marks_state: dict) -> dict:
    return {STATE_KEY: json.loads(json.dumps(marks_state))}


@given(st.sets(u64, max_size=300))
def test_id_set_roundtrip_is_order_independent(ids):
    packed = pack_ids(ids)
    assert set(unpack_ids(packed)) == ids
    assert pack_ids(list(ids)[::-1]) == packed


rows = st.dictionaries(
    u64,
    st.tuples(
        st.integers(min_value=-(2**50), max_value=2**52),  # microseconds, before 1970 too
        st.frozensets(st.integers(min_value=0, max_value=2**32 - 1), max_size=4),
    ),
    max_size=200,
)


@settings(max_examples=60)
@given(rows, st.booleans())
def test_table_roundtrip(data, tight):
    table = Table.from_rows(data)
    back = Table.unpack(table.pack(tight=tight))
    for lookup_id, (at, fps) in data.items():
        found = back.find(lookup_id)
        assert found is not None and found[0] == at and set(found[1]) == fps
    assert len(back) == len(data)


@settings(max_examples=40)
@given(rows, rows)
def test_merge_newest_wins(older, newer):
    merged = Table.merge([Table.from_rows(newer), Table.from_rows(older)])
    for lookup_id in older.keys() | newer.keys():
        at, fps = newer.get(lookup_id) or older[lookup_id]
        found = merged.find(lookup_id)
        assert found is not None and found[0] == at and set(found[1]) == fps
    assert len(merged) == len(older.keys() | newer.keys())


def test_table_costs_under_16_5_bytes_a_lookup_at_100k():
    """(At a million lookups ids are denser: the benchmark measures about 15.5.)"""
    rng = random.Random(3)
    base = key("2025-01-01T00:00:00Z")
    data = {
        rng.getrandbits(64): (base + rng.randrange(30 * 86400) * 1_000_000, {rng.getrandbits(32)})
        for _ in range(100_000)
    }
    assert len(Table.from_rows(data).pack(tight=True)) <= 16.5 * len(data)


@pytest.mark.parametrize("bad", ["", "not base85 {", "0000000000", Table().pack()[:-3]])
def test_unpack_refuses_what_is_not_a_table(bad):
    with pytest.raises(ValueError):
        Table.unpack(bad)


def test_bookmark_keep_and_start():
    at = key("2025-01-01T10:00:05Z")
    resumed = Bookmark(at, frozenset({fingerprint("a")}))
    assert resumed.request_start() == "2025-01-01T10:00:04Z"
    assert not resumed.keep(at - 1, "x")
    assert not resumed.keep(at, "a") and resumed.keep(at, "b")
    assert resumed.keep(at + 1, "a")
    start = Bookmark(at)  # start_date: nothing at or before it
    assert start.request_start() == "2025-01-01T10:00:05Z"
    assert not start.keep(at, "b") and start.keep(at + 1, "b")
    window = Bookmark(at, frozenset({fingerprint("a")}), lookback=60_000_000)
    assert window.request_start() == "2025-01-01T09:59:04Z"
    assert window.keep(at - 60_000_000, "x") and not window.keep(at - 60_000_001, "x")
    assert not window.keep(at, "a")


def batch(*items: tuple[str, str]) -> list[tuple[int, dict]]:
    return [(key(at), {"id": event_id, "time_stamp": at}) for at, event_id in items]


def test_bookmark_is_the_newest_event_emitted_with_its_ties():
    marks = EventBookmarks({}, None, END)
    marks.advance(1, None, batch(("2025-01-01T00:00:01Z", "a"), ("2025-01-01T00:00:02Z", "b")))
    marks.advance(1, None, batch(("2025-01-01T00:00:02Z", "c")))  # a tie across batches
    marks.advance(2, None, batch(("2025-01-01T00:00:03Z", "d")))
    again = EventBookmarks(state_of(marks.checkpoint()), None, END)
    one = again.bookmark_for(1)
    assert one == Bookmark(key("2025-01-01T00:00:02Z"), frozenset(map(fingerprint, "bc")))
    assert again.bookmark_for(3) is None
    final = EventBookmarks(state_of(marks.finish()), None, END)
    assert final.bookmark_for(2) == Bookmark(
        key("2025-01-01T00:00:03Z"), frozenset({fingerprint("d")})
    )


def test_lookback_reemits_never_move_a_bookmark_back():
    first = EventBookmarks({}, None, END)
    first.advance(1, None, batch(("2025-01-01T00:00:09Z", "z")))
    marks = EventBookmarks(state_of(first.finish()), None, END, lookback_seconds=60)
    bookmark = marks.bookmark_for(1)
    marks.advance(1, bookmark, batch(("2025-01-01T00:00:05Z", "y")))
    after = EventBookmarks(state_of(marks.finish()), None, END).bookmark_for(1)
    assert after is not None and after.key == key("2025-01-01T00:00:09Z")
    marks.advance(1, bookmark, batch(("2025-01-01T00:00:09Z", "late-tie")))
    after = EventBookmarks(state_of(marks.finish()), None, END).bookmark_for(1)
    assert after is not None and after.fps == {fingerprint("z"), fingerprint("late-tie")}


def test_unchanged_run_rewrites_nothing_and_midrun_state_reuses_text():
    first = EventBookmarks({}, None, END)
    for lookup_id in range(1000):
        first.advance(lookup_id, None, batch(("2025-01-01T00:00:01Z", str(lookup_id))))
    final = first.finish()
    second = EventBookmarks(state_of(final), None, END)
    assert second.finish() == final  # nothing emitted: the same text
    third = EventBookmarks(state_of(final), None, END)
    third.advance(7, third.bookmark_for(7), batch(("2025-01-02T00:00:00Z", "new")))
    mid = third.checkpoint()
    assert mid["tables"][0] == final["tables"][0] and len(mid["tables"]) == 2
    assert len(mid["tables"][1]) < len(mid["tables"][0]) / 20  # only what changed is packed


def test_many_changes_fold_into_few_tables():
    marks = EventBookmarks({}, None, END)
    for lookup_id in range(5 * FREEZE_ROWS):
        marks.advance(lookup_id, None, batch(("2025-01-01T00:00:01Z", "e")))
        if lookup_id % 5000 == 0:
            marks.checkpoint()
    assert len(marks.checkpoint()["tables"]) <= 4
    final = EventBookmarks(state_of(marks.finish()), None, END)
    assert len(final.segments) == 1 and len(final.segments[0].table) == 5 * FREEZE_ROWS


def test_a_long_run_keeps_the_text_of_the_big_table_it_started_from():
    """Changed lookups fold into tables of similar size: a long run's mid-run STATE keeps
    the (much bigger) table it loaded as it was, not repacked at every fold."""
    start = EventBookmarks({}, None, END)
    for lookup_id in range(5 * FREEZE_ROWS):
        start.advance(lookup_id, None, batch(("2025-01-01T00:00:01Z", "e")))
    loaded = start.finish()
    marks = EventBookmarks(state_of(loaded), None, END)
    for lookup_id in range(5 * FREEZE_ROWS, 7 * FREEZE_ROWS + 4000):
        marks.advance(lookup_id, None, batch(("2025-01-01T00:00:02Z", "f")))
        if lookup_id % 5000 == 0:
            marks.checkpoint()
    tables = marks.checkpoint()["tables"]
    assert tables[0] == loaded["tables"][0] and len(tables) == 3


@pytest.mark.parametrize(
    "raw",
    [
        {"version": 9},
        {"version": 2, "tables": "x"},
        {"version": 2, "tables": ["garbage"]},
        {"version": 1, "generations": [{"until": "nope", "ids": "AAAA"}]},
        ["not", "an", "object"],
    ],
)
def test_unreadable_states_are_refused(raw):
    with pytest.raises(StateUnreadable):
        EventBookmarks({STATE_KEY: raw}, None, END)


def test_profile_fingerprints_follow_last_updated_and_the_request():
    marks = ProfileMarks({}, "all")
    assert marks.changed(1, "2025-01-01T00:00:00Z") and marks.changed(2, "2025-01-01T00:00:00Z")
    assert marks.changed(3, None)  # no last_updated: always sent
    again = ProfileMarks(state_of(marks.finish()), "all")
    assert not again.changed(1, "2025-01-01T00:00:00Z")
    assert again.changed(2, "2025-01-02T00:00:00Z")
    assert again.changed(3, None)
    other = ProfileMarks(state_of(marks.finish()), "traits only")
    assert other.changed(1, "2025-01-01T00:00:00Z")
    with pytest.raises(StateUnreadable):
        ProfileMarks({STATE_KEY: {"version": 1, "seen": ["!!"]}}, "all")


def test_profiles_midrun_state_grows_with_the_changes_not_the_lookups_read():
    first = ProfileMarks({}, "all")
    for lookup_id in range(20_000):
        first.changed(lookup_id, "2025-01-01T00:00:00Z")
    final = first.finish()
    second = ProfileMarks(state_of(final), "all")
    moved = {7: "2025-01-02T00:00:00Z"}
    for lookup_id in range(20_000):
        second.changed(lookup_id, moved.get(lookup_id, "2025-01-01T00:00:00Z"))
    mid = second.checkpoint()
    assert mid["seen"][: len(final["seen"])] == final["seen"]  # reused verbatim
    assert sum(map(len, mid["seen"][len(final["seen"]) :])) < 40  # one fingerprint more
    resumed = ProfileMarks(state_of(mid), "all")
    assert not resumed.changed(7, "2025-01-02T00:00:00Z")
    assert not resumed.changed(8, "2025-01-01T00:00:00Z")
    assert second.finish() != final and len(second.finish()["seen"]) == 1


@given(st.integers(min_value=0, max_value=3 * 2**16 + 9), st.randoms(use_true_random=False))
@settings(max_examples=30, deadline=None)
def test_base85_in_slices_is_base85(size, rnd):
    blob = rnd.randbytes(size)
    text = base64.b85encode(blob).decode("ascii")
    assert b85encode(blob) == text
    assert b85decode(text) == blob
