"""STATE is emitted only once every record before it is delivered or dead-lettered."""

from __future__ import annotations

from typing import Any

import pytest
from core_fake import FakeTarget, config, install_fake, record, run, schema, state

from target_cdp.state import StateTracker


def test_tracker_holds_states_until_records_are_done():
    out: list[Any] = []
    tracker = StateTracker(out.append)
    first = tracker.open
    first.submitted = 2
    tracker.checkpoint("a")
    second = tracker.open
    second.submitted = 1
    tracker.checkpoint("b")
    assert out == [] and tracker.waiting
    tracker.done([second])  # later records done first: nothing may be emitted yet
    assert out == []
    tracker.done([first, first])
    assert out == ["b"]  # both intervals done: only the newest state is written
    tracker.checkpoint("b")  # an unchanged state is not written twice
    tracker.checkpoint("c")
    assert out == ["b", "c"] and not tracker.waiting


def test_states_wait_for_delivery_with_concurrency(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    sandbox.set_faults(latency_ms=15)
    at_emit: list[tuple[int, int]] = []

    class Watching(FakeTarget):
        def write_state(self, state: Any) -> None:
            at_emit.append((state["marker"]["n"], len(vendor.items) + self.dead.count))
            super().write_state(state)

    msgs: list[Any] = [schema()]
    for i in range(60):
        msgs.append(record({"id": i % 7, "name": "x", **({"bad": True} if i % 13 == 5 else {})}))
        if i % 6 == 5:
            msgs.append(state({"n": i + 1}))
    props = {"id": {"type": "integer"}, "name": {"type": "string"}, "bad": {"type": "boolean"}}
    msgs[0] = schema(props=props)
    cfg = config(sandbox, tmp_path, max_concurrency=4, state_flush_seconds=0)
    cfg["fake"]["batch_size"] = 2
    result = run(cfg, msgs, tmp_path, caplog, Watching)
    assert result.exit_code == 1  # some records were refused and dead-lettered
    assert at_emit, result.logs
    for n, done in at_emit:
        assert done >= n
    assert result.states[-1] == {"n": 60}
    assert [s["n"] for s in result.states] == sorted(s["n"] for s in result.states)
    assert len(vendor.items) + len(result.dead) == 60


def test_same_key_is_never_reordered(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    sandbox.set_faults(latency_ms=5)
    props = {"id": {"type": "integer"}, "seq": {"type": "integer"}}
    msgs = [schema(props=props)] + [record({"id": i % 5, "seq": i}) for i in range(80)]
    cfg = config(sandbox, tmp_path, max_concurrency=4)
    cfg["fake"]["batch_size"] = 2
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    for key in range(5):
        seqs = [i["seq"] for i in vendor.items if i["id"] == key]
        assert seqs == sorted(seqs) and len(seqs) == 16


@pytest.mark.parametrize("flush_seconds", [0, 1000])
def test_state_flushes_partial_batches(sandbox, tmp_path, caplog, flush_seconds):
    vendor = install_fake(sandbox)
    msgs = [schema()]
    for n in range(3):
        msgs += [record({"id": 2 * n}), record({"id": 2 * n + 1}), state(n)]
    cfg = config(sandbox, tmp_path, state_flush_seconds=flush_seconds, max_concurrency=1)
    cfg["fake"]["batch_size"] = 100
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 0
    if flush_seconds:
        assert vendor.requests == 1  # no flush before the end: one batch
    else:
        assert vendor.requests >= 3  # partial batches flushed while a STATE waits
    assert result.states[-1] == 2


def test_no_state_past_a_stop(sandbox, tmp_path, caplog):
    install_fake(sandbox)
    cfg = config(sandbox, tmp_path)
    cfg["fake"]["token"] = "wrong-token-value"
    msgs = [schema(), record({"id": 1}), state("after-1"), record({"id": 2})]
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert result.states == []
