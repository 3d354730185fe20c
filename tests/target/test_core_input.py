"""Malformed input: one clear line naming the line; what was read is still delivered."""

from __future__ import annotations

from core_fake import config, install_fake, record, run, schema, state


def test_bad_json_line(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    msgs = [schema(), record({"id": 1}), state("one"), '{"type": "RECORD", oops', record({"id": 2})]
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert [i["id"] for i in vendor.items] == [1]
    assert result.states == ["one"]
    assert "Input error: line 4: not valid JSON" in result.logs
    assert "Traceback" not in result.logs


def test_record_before_schema(sandbox, tmp_path, caplog):
    install_fake(sandbox)
    msgs = [schema(), record({"id": 1}), state("one"), record({"id": 5}, "late")]
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert result.states == ["one"]
    assert "line 4: a RECORD for stream 'late' came before its SCHEMA" in result.logs


def test_record_missing_its_key(sandbox, tmp_path, caplog):
    install_fake(sandbox)
    msgs = [schema(), record({"name": "no id"})]
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert "line 2: stream 'people': record is missing key property 'id'" in result.logs
    assert "Traceback" not in result.logs
