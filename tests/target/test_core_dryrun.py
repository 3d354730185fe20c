"""Dry run: the exact requests go to a JSONL file with secrets masked; nothing is sent."""

from __future__ import annotations

import json

from core_fake import TOKEN, config, install_fake, record, run, schema, state


def test_dry_run_writes_requests_and_sends_nothing(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    cfg = config(sandbox, tmp_path, dry_run=True, max_concurrency=1)
    msgs = [schema(), *[record({"id": i, "name": f"n{i}"}) for i in range(5)], state("s")]
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert vendor.requests == 0
    assert result.states == ["s"]
    text = (tmp_path / "dry.jsonl").read_text()
    assert TOKEN not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 2  # batches of 3 and 2
    first = lines[0]
    assert first["method"] == "POST" and first["label"] == "items"
    assert first["url"].startswith(f"{sandbox.url}/fake/import?token=")
    assert first["headers"]["X-Token"] == "[REDACTED]" and first["headers"]["X-Sign"] == "signed"
    assert first["body"]["items"][0] == {"id": 0, "name": "n0"}
    assert first["destination"] == "fake" and first["route"] == "people -> fake:item"
    assert "dry run" in result.logs.strip().splitlines()[-1]
