"""Routing: fan-out, `fields` with dotted paths, unmapped streams, stream maps, _sdc_deleted_at."""

from __future__ import annotations

from core_fake import FakeDest, FakeTarget, config, install_fake, record, run, schema, state

from target_cdp.settings import build_config_schema


def test_fan_out_and_fields(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    props = {"id": {"type": "integer"}, "info": {"type": "object"}}
    cfg = config(
        sandbox,
        tmp_path,
        mappings=[
            {"stream": "people", "destination": "fake", "type": "item"},
            {
                "stream": "people",
                "destination": "fake",
                "type": "item",
                "fields": {"id": "id", "city": "info.address.city"},
            },
        ],
    )
    recs = [record({"id": i, "info": {"address": {"city": f"c{i}"}}}) for i in range(5)]
    result = run(cfg, [schema(props=props), *recs, state({"n": 5})], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert result.states == [{"n": 5}]
    plain = [i for i in vendor.items if "info" in i]
    mapped = [i for i in vendor.items if "city" in i]
    assert sorted(i["id"] for i in plain) == list(range(5))
    assert sorted((i["id"], i["city"]) for i in mapped) == [(i, f"c{i}") for i in range(5)]
    routes = result.summary["routes"]
    assert [r["received"] for r in routes] == [5, 5]
    assert [r["delivered"] for r in routes] == [5, 5]
    last = result.logs.strip().splitlines()[-1]
    assert "Summary [ok]" in last and "people -> fake:item" in last


def test_unmapped_streams_ignored_and_counted(sandbox, tmp_path, caplog):
    install_fake(sandbox)
    msgs = [schema("other"), record({"id": 1}, "other"), record({"id": 2}, "other"), state(1)]
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog)
    assert result.exit_code == 0
    assert result.states == [1]
    assert result.summary["ignored_streams"] == {"other": 2}
    assert result.logs.count("'other' has no route") == 1


def test_unmapped_streams_fail(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    msgs = [schema(), record({"id": 1}), state(1), schema("other"), record({"id": 2}, "other")]
    result = run(config(sandbox, tmp_path, unmapped_streams="fail"), msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert "line 4: stream 'other' has no route" in result.logs
    assert "Traceback" not in result.logs
    assert [i["id"] for i in vendor.items] == [1]  # what was read before is delivered
    assert result.states == [1]


def test_stream_maps_run_before_the_sink(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    cfg = config(
        sandbox,
        tmp_path,
        stream_maps={"people": {"name": "name.upper()", "extra": "str(id * 10)"}},
    )
    msgs = [schema(), record({"id": 1, "name": "ann"}), record({"id": 2, "name": "bob"})]
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert sorted((i["name"], i["extra"]) for i in vendor.items) == [("ANN", "10"), ("BOB", "20")]


def test_sdc_deleted_at_reaches_prepare_when_the_destination_reads_it(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    FakeDest.seen.clear()
    props = {"id": {"type": "integer"}, "_sdc_deleted_at": {"type": ["null", "string"]}}
    msgs = [
        schema(props=props),
        record({"id": 1, "_sdc_deleted_at": "2024-01-01T00:00:00Z", "_sdc_sequence": 5}),
        record({"id": 2}),
    ]
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    by_id = {r["id"]: r for r in FakeDest.seen}
    assert by_id[1]["_sdc_deleted_at"] == "2024-01-01T00:00:00Z"
    assert "_sdc_sequence" not in by_id[1] and "_sdc_deleted_at" not in by_id[2]
    items = {i["id"]: i for i in vendor.items}
    assert items[1]["deleted"] is True and "_sdc_deleted_at" not in items[1]


def test_record_error_dead_letters_that_route_only(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    cfg = config(
        sandbox,
        tmp_path,
        mappings=[
            {"stream": "people", "destination": "fake", "type": "item"},
            {"stream": "people", "destination": "fake", "type": "item", "fields": {"id": "uid"}},
        ],
    )
    props = {"id": {"type": "integer"}, "uid": {"type": "integer"}}
    msgs = [schema(props=props), record({"id": 1, "uid": 7}), record({"id": 2}), state("s")]
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert result.states == ["s"]
    assert sorted(i["id"] for i in vendor.items) == [1, 2, 7]
    [dead] = result.dead
    assert dead["record"] == {"id": 2}
    assert dead["error"] == {"code": "missing_id", "message": "field 'id' is required"}
    assert dead["stream"] == "people" and dead["destination"] == "fake" and dead["type"] == "item"
    assert dead["at"].endswith("Z")


class NoMetadata(FakeDest):
    """A destination that reads no Singer metadata."""

    record_metadata = frozenset()


class NoMetadataTarget(FakeTarget):
    destinations = {"fake": NoMetadata}
    config_jsonschema = build_config_schema(destinations)


def test_singer_metadata_is_stripped_for_a_destination_that_does_not_read_it(
    sandbox, tmp_path, caplog
):
    vendor = install_fake(sandbox)
    FakeDest.seen.clear()
    props = {"id": {"type": "integer"}, "_sdc_deleted_at": {"type": ["null", "string"]}}
    msgs = [schema(props=props), record({"id": 1, "_sdc_deleted_at": "2024-01-01T00:00:00Z"})]
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog, NoMetadataTarget)
    assert result.exit_code == 0, result.logs
    assert FakeDest.seen == [{"id": 1}]
    assert vendor.items == [{"id": 1}]
