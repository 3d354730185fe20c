"""A bug in a destination's code (not a refusal, not a bad record) loses nothing: the records it
hits are dead-lettered as `internal_error`, the others are delivered, and the error is logged
once, with its traceback, however many batches it hits."""

from __future__ import annotations

from core_fake import FakeDest, FakeTarget, config, install_fake, record, run, schema, state

from target_cdp.settings import build_config_schema


class BuggyPrepare(FakeDest):
    """Crashes while preparing any record whose id is 13."""

    def prepare(self, route, values, record):
        if values.get("id") == 13:
            return {}["no such key"]
        return super().prepare(route, values, record)


class BuggyBuild(FakeDest):
    """Crashes while building the request of any batch holding an id above 100."""

    def build(self, route, items):
        if any(item["id"] > 100 for item in items):
            raise ZeroDivisionError("division by zero in build")
        return super().build(route, items)


def target_of(dest: type[FakeDest]) -> type[FakeTarget]:
    class Target(FakeTarget):
        destinations = {"fake": dest}
        config_jsonschema = build_config_schema(destinations)

    return Target


def test_a_crash_preparing_one_record_dead_letters_only_that_record(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    messages = [schema(), *(record({"id": n}) for n in (11, 12, 13, 14)), state("s")]
    cfg = config(sandbox, tmp_path, max_concurrency=1)
    result = run(cfg, messages, tmp_path, caplog, target_of(BuggyPrepare))
    assert result.exit_code == 1  # a record was dead-lettered
    assert sorted(item["id"] for item in vendor.items) == [11, 12, 14]
    assert [(d["record"]["id"], d["error"]["code"]) for d in result.dead] == [
        (13, "internal_error")
    ]
    assert "KeyError" in result.dead[0]["error"]["message"]
    assert result.states == ["s"]  # the dead-lettered record is done too
    assert result.logs.count("unexpected error") == 1


def test_a_crash_building_requests_is_logged_once_and_loses_nothing(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    ids = [1, 2, 3, 101, 102, 103, 104, 105, 106, 4]
    messages = [schema(), *(record({"id": n}) for n in ids), state("s")]
    cfg = config(sandbox, tmp_path, max_concurrency=1)  # batches of 3: three of them crash
    result = run(cfg, messages, tmp_path, caplog, target_of(BuggyBuild))
    assert result.exit_code == 1
    assert sorted(item["id"] for item in vendor.items) == [1, 2, 3, 4]
    assert sorted(d["record"]["id"] for d in result.dead) == [101, 102, 103, 104, 105, 106]
    assert {d["error"]["code"] for d in result.dead} == {"internal_error"}
    assert result.states == ["s"]
    assert result.logs.count("unexpected error") == 1
    assert "ZeroDivisionError: division by zero in build" in result.logs
    assert "Traceback (most recent call last)" in result.logs
