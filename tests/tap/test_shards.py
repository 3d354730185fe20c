"""`shard_count`/`shard_index`: a stable split that covers every lookup exactly once."""

from __future__ import annotations

import pytest
from tap_helpers import expected_events, run_tap, tap_config, workspace

from tap_primedata.lookups import Lookup, LookupSource, stable_id


def test_stable_id_is_not_pythons_salted_hash():
    assert stable_id("p\x00abc") == 0xB14838146502B5B4  # fixed forever: shards must not move
    assert Lookup("abc").id == stable_id("p\x00abc")
    assert Lookup("a@b.c", "email").id != Lookup("a@b.c").id


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_lookups(count):
    config = {
        "profile_ids": [f"profile-{i}" for i in range(500)],
        "identities": {"email": [f"user{i}@example.com" for i in range(300)]},
    }
    everything = list(LookupSource(config))
    shards = [list(LookupSource({**config, "shard_count": count, "shard_index": i}))
              for i in range(count)]  # fmt: skip
    flat = [lookup for shard in shards for lookup in shard]
    assert sorted(flat, key=lambda x: x.id) == sorted(everything, key=lambda x: x.id)
    assert len({x.id for x in flat}) == len(flat) == 800
    if count > 1:  # roughly balanced
        assert min(len(s) for s in shards) > 800 / count * 0.6


def test_shard_index_must_be_in_range():
    with pytest.raises(ValueError):
        LookupSource({"profile_ids": ["a"], "shard_count": 2, "shard_index": 2})


def test_shard_runs_cover_each_lookup_once(sandbox):
    profiles, events = [], []
    for index in range(3):
        out = run_tap(tap_config(sandbox, shard_count=3, shard_index=index))
        profiles += [r["profile_id"] for r in out.records("profiles")]
        events += list(out.events())
    assert len(profiles) == len(set(profiles)) == workspace(sandbox).profiles
    assert sorted(events) == sorted(expected_events(sandbox))
