"""The compact events state: packing, bookmarks, folding runs, size at scale."""

from __future__ import annotations

import json
import random

from hypothesis import given
from hypothesis import strategies as st

from tap_primedata import timestamps as ts
from tap_primedata.bookmarks import (
    MAX_GENERATIONS,
    STATE_KEY,
    Bookmark,
    EventBookmarks,
    pack_ids,
    unpack_ids,
)

END1, END2 = "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"


@given(st.sets(st.integers(min_value=0, max_value=2**64 - 1), max_size=300))
def test_pack_roundtrip(ids):
    packed = pack_ids(ids)
    assert unpack_ids(packed) == ids
    assert pack_ids(list(ids)[::-1]) == packed  # order-independent


def test_membership_costs_under_nine_bytes_a_lookup():
    rng = random.Random(1)
    ids = {rng.getrandbits(64) for _ in range(100_000)}
    packed = pack_ids(ids)
    assert len(packed) < 9 * len(ids)
    assert unpack_ids(packed) == ids


def key(text: str) -> int:
    return ts.to_key(ts.parse(text))


def test_bookmark_keep_and_start():
    at = "2025-01-01T10:00:05Z"
    inclusive = Bookmark(key(at), at, frozenset({"a"}))
    assert inclusive.request_start() == "2025-01-01T10:00:04Z"
    assert not inclusive.keep(key("2025-01-01T10:00:04Z"), "x")
    assert not inclusive.keep(key(at), "a") and inclusive.keep(key(at), "b")
    assert inclusive.keep(key("2025-01-01T10:00:06Z"), "a")
    exclusive = Bookmark(key(at), at)  # start_date: nothing at or before it
    assert exclusive.request_start() == at
    assert not exclusive.keep(key(at), "b") and exclusive.keep(key(at) + 1, "b")


def state_of(marks_state: dict) -> dict:
    return {STATE_KEY: json.loads(json.dumps(marks_state))}


def test_run_folds_into_generations_and_partial_wins():
    first = EventBookmarks({}, "2024-01-01T00:00:00Z", END1)
    for lookup in (1, 2, 3):
        first.complete(lookup)
    progress = first.progress(4)
    progress.advance(key("2024-06-01T00:00:00Z"), "2024-06-01T00:00:00Z", "e1")
    progress.advance(key("2024-06-01T00:00:00Z"), "2024-06-01T00:00:00Z", "e2")
    mid = first.checkpoint()
    assert mid["run"]["count"] == 3 and list(mid["partial"].values()) == [
        ["2024-06-01T00:00:00Z", ["e1", "e2"]]
    ]
    resumed = EventBookmarks(state_of(mid), "2024-01-01T00:00:00Z", END2)  # interrupted
    assert resumed.bookmark_for(1) == Bookmark(key(END1), END1, frozenset())
    assert resumed.bookmark_for(4).ids == frozenset({"e1", "e2"})
    assert resumed.bookmark_for(9).ids is None  # new lookup: from start_date
    resumed.complete(1)
    resumed.complete(4)
    final = resumed.finish()
    assert "run" not in final and final["partial"] == {}
    assert [(g["until"], g["count"]) for g in final["generations"]] == [(END2, 2), (END1, 2)]
    again = EventBookmarks(state_of(final), None, END2)
    assert again.is_current(again.bookmark_for(4)) and not again.is_current(again.bookmark_for(2))


def test_generations_are_capped_keeping_the_earliest_end():
    state: dict = {}
    for month in range(1, MAX_GENERATIONS + 4):
        end = f"2025-{month:02d}-01T00:00:00Z"
        marks = EventBookmarks(state, None, end)
        marks.complete(month)
        state = state_of(marks.finish())
    generations = state[STATE_KEY]["generations"]
    assert len(generations) == MAX_GENERATIONS
    marks = EventBookmarks(state, None, "2026-01-01T00:00:00Z")
    for month in range(1, MAX_GENERATIONS + 4):  # every lookup still has a bookmark...
        bookmark = marks.bookmark_for(month)
        assert bookmark is not None
        assert bookmark.key <= key(f"2025-{month:02d}-01T00:00:00Z")  # ...never past its end


def test_final_state_size_at_100k_lookups():
    marks = EventBookmarks({}, None, END1)
    for lookup in range(100_000):
        marks.complete(random.getrandbits(64) | lookup)
    size = len(json.dumps(marks.finish()))
    assert size < 9 * 100_000


@given(st.lists(st.integers(0, 5), max_size=30), st.integers(0, 30))
def test_advance_batch_equals_advancing_each_record(keys, cut):
    from tap_primedata.bookmarks import Progress

    batch = [(k, {"id": f"e{i}", "time_stamp": f"t{k}"}) for i, k in enumerate(sorted(keys))]
    one, many = Progress(), Progress()
    for k, record in batch:
        one.advance(k, record["time_stamp"], record["id"])
    many.advance_batch(batch[:cut])
    many.advance_batch(batch[cut:])
    assert (one.key, one.text, one.ids) == (many.key, many.text, many.ids)
