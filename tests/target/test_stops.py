"""A run that must stop ends promptly, says why in one line, and writes no STATE past records
that were neither delivered nor dead-lettered."""

from __future__ import annotations

import json
import subprocess
import sys

from core_fake import FakeDest, FakeTarget, config, install_fake, record, run, schema, state

from target_cdp.settings import build_config_schema

PROPS = {"id": {"type": "integer"}, "bad": {"type": "boolean"}}


def test_a_dead_letter_file_that_cannot_be_written_stops_the_run(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    (tmp_path / "dead.jsonl").mkdir()  # a directory where the dead-letter file should go
    cfg = config(sandbox, tmp_path, max_concurrency=1, state_flush_seconds=0)
    messages = [schema(props=PROPS), record({"id": 1}), state("before")]
    messages += [record({"id": 2, "bad": True}), state("after the refused record")]
    result = run(cfg, messages, tmp_path, caplog)
    assert result.exit_code == 1
    assert [item["id"] for item in vendor.items] == [1]
    # the refused record is neither delivered nor dead-lettered: its STATE is never written
    assert result.states == ["before"]
    assert "check the `dead_letter_path` setting" in result.logs


def test_a_credentials_stop_with_batches_queued_ends_the_run(sandbox, tmp_path):
    sandbox.set_faults(latency_ms=100)  # the lane's queue fills up before the first answer
    cfg = {
        "dmartech": {
            "api_url": sandbox.url,
            "secret": "not-the-sandbox-secret",
            "batch_size": 1,
            "max_concurrency": 1,
        },
        "mappings": [
            {
                "stream": "people",
                "destination": "dmartech",
                "type": "user",
                "fields": {"mobile": "phone"},
            }
        ],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "progress_seconds": 0,
    }
    (tmp_path / "target.json").write_text(json.dumps(cfg))
    lines = [{"type": "SCHEMA", "stream": "people", "schema": {"properties": {}}}]
    for n in range(30):
        lines.append({"type": "RECORD", "stream": "people", "record": {"phone": f"0900{n}"}})
        lines.append({"type": "STATE", "value": {"people": n + 1}})
    proc = subprocess.run(
        [sys.executable, "-m", "target_cdp", "--config", str(tmp_path / "target.json")],
        input="".join(json.dumps(line) + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=120,  # a run that never ends fails here
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""  # no record was delivered: no STATE
    assert "dmartech.secret" in proc.stderr
    assert sandbox.received()["dmartech"]["counts"]["users"] == 0


class OneBatchPerRecord(FakeDest):
    """Every record its own batch: the end of input flushes many batches into one lane."""

    def batch_key(self, route, item):
        return item["id"]


class ManyBatchesTarget(FakeTarget):
    destinations = {"fake": OneBatchPerRecord}
    config_jsonschema = build_config_schema(destinations)


def test_a_stop_while_the_last_batches_are_queued_still_fails_the_run(sandbox, tmp_path, caplog):
    install_fake(sandbox)
    sandbox.set_faults(latency_ms=100)  # the lane's queue is full when the stop comes
    cfg = config(sandbox, tmp_path, max_concurrency=1, state_flush_seconds=1000)
    cfg["fake"]["token"] = "wrong-token-value"
    messages = [schema(props=PROPS), *(record({"id": n}) for n in range(10)), state("s")]
    result = run(cfg, messages, tmp_path, caplog, ManyBatchesTarget)
    assert result.exit_code == 1
    assert result.states == []
    assert "check the setting `fake.token`" in result.logs
    assert "Summary [stopped]" in result.logs
