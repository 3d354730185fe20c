"""A record that one route cannot take (a record error, or a crash in the destination's code)
still reaches the routes listed after that one."""

from __future__ import annotations

from core_fake import FakeDest, FakeTarget, config, install_fake, record, run, schema, state

from target_cdp.settings import build_config_schema

PROPS = {"id": {"type": "integer"}, "uid": {"type": "integer"}}
ROUTES = [
    {"stream": "people", "destination": "fake", "type": "item", "fields": {"id": "uid"}},
    {"stream": "people", "destination": "fake", "type": "item"},
]


class CrashOnUid(FakeDest):
    """Crashes preparing a record for the route that maps `id` from `uid`."""

    def prepare(self, route, values, record):
        if route.fields:
            raise RuntimeError("a bug in prepare")
        return super().prepare(route, values, record)


class CrashTarget(FakeTarget):
    destinations = {"fake": CrashOnUid}
    config_jsonschema = build_config_schema(destinations)


def test_a_record_error_on_the_first_route_spares_the_next(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    cfg = config(sandbox, tmp_path, mappings=ROUTES)
    messages = [schema(props=PROPS), record({"id": 1, "uid": 7}), record({"id": 2}), state("s")]
    result = run(cfg, messages, tmp_path, caplog)
    assert result.exit_code == 1  # record 2 has no uid: dead-lettered on the first route
    assert sorted(item["id"] for item in vendor.items) == [1, 2, 7]
    assert [(d["record"], d["error"]["code"]) for d in result.dead] == [({"id": 2}, "missing_id")]
    assert result.states == ["s"]


def test_a_crash_on_the_first_route_spares_the_next(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    cfg = config(sandbox, tmp_path, mappings=ROUTES)
    messages = [schema(props=PROPS), record({"id": 1, "uid": 7}), record({"id": 2}), state("s")]
    result = run(cfg, messages, tmp_path, caplog, CrashTarget)
    assert result.exit_code == 1
    assert sorted(item["id"] for item in vendor.items) == [1, 2]
    assert sorted(d["record"]["id"] for d in result.dead) == [1, 2]
    assert {d["error"]["code"] for d in result.dead} == {"internal_error"}
    assert result.states == ["s"]
