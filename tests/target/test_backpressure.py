"""A slow destination makes the reader wait (each lane queues a few batches, no more) and
loses nothing: every record is delivered, in order, and the STATE is written after them."""

from __future__ import annotations

from core_fake import config, install_fake, record, run, schema, state


def test_a_slow_destination_holds_the_reader_back_and_loses_nothing(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    sandbox.set_faults(latency_ms=300)  # slower than the reader waits for a full queue at once
    cfg = config(sandbox, tmp_path, max_concurrency=1, request_timeout=30)
    cfg["fake"]["batch_size"] = 1
    messages = [schema(), *(record({"id": n}) for n in range(8)), state("all eight")]
    result = run(cfg, messages, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert [item["id"] for item in vendor.items] == list(range(8))
    assert result.states == ["all eight"]
