"""Records held back and handed to their sink together (`MessageHandling.release_records`,
`CDPSink.accept_many`, `Pipeline.submit_many`): the outcome of each record is the one it gets
alone, in input order; an input error names the first bad line."""

from __future__ import annotations

import json
from typing import Any

from core_fake import config, install_fake, record, run, schema, state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from target_cdp import messages
from target_cdp.sinks import CDPSink

NAMED = {"id": {"type": "integer"}, "name": {"type": ["string", "null"]}}


def _ids(vendor: Any) -> list[Any]:
    return [item["id"] for item in vendor.items]


def test_a_bad_record_before_a_bad_line_is_the_error_named(sandbox, tmp_path, caplog):
    install_fake(sandbox)
    msgs = [schema(), record({"id": 1}), record({"name": "no id"}), '{"type": "RECORD", oops']
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert "line 3: stream 'people': record is missing key property 'id'" in result.logs
    assert "line 4" not in result.logs
    assert "Traceback" not in result.logs


def test_records_read_before_a_bad_line_are_delivered(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    msgs = [schema(), *(record({"id": n}) for n in range(1, 8)), '{"type": "RECORD", oops']
    result = run(config(sandbox, tmp_path, max_concurrency=1), msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert "Input error: line 9: not valid JSON" in result.logs
    assert _ids(vendor) == list(range(1, 8))


def test_refused_and_invalid_records_among_many_keep_their_own_outcome(sandbox, tmp_path, caplog):
    """Over two holds' worth of keyless records: one fails its schema, one the destination's
    `prepare` refuses; each is dead-lettered with its reason, the rest arrive in order."""
    vendor = install_fake(sandbox)
    total = messages.HELD_RECORDS * 2 + 7
    values: list[dict[str, Any]] = [{"id": n} for n in range(total)]
    values[3] = {"id": "three"}  # not an integer
    values[messages.HELD_RECORDS + 5] = {"name": "no id"}  # `prepare` needs an id
    msgs = [schema(key=[], props=NAMED), *(record(v) for v in values), state("end")]
    cfg = config(sandbox, tmp_path, max_concurrency=1)
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 1  # rejections
    expected = [v["id"] for i, v in enumerate(values) if i not in (3, messages.HELD_RECORDS + 5)]
    assert _ids(vendor) == expected
    assert sorted(d["error"]["code"] for d in result.dead) == ["missing_id", "schema_invalid"]
    assert result.states == ["end"]
    assert result.summary["routes"][0]["received"] == total


def test_streams_taking_turns_keep_each_ones_order(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    cfg = config(sandbox, tmp_path, max_concurrency=1)
    cfg["mappings"].append({"stream": "others", "destination": "fake", "type": "item"})
    msgs: list[Any] = [schema(), schema("others")]
    for n in range(20):
        msgs.append(record({"id": n, "name": "p"}) if n % 3 else record({"id": n}, "others"))
    msgs.append(state("end"))
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    people = [i["id"] for i in vendor.items if i.get("name") == "p"]
    others = [i["id"] for i in vendor.items if "name" not in i]
    assert people == [n for n in range(20) if n % 3]
    assert others == [n for n in range(20) if not n % 3]
    assert result.states == ["end"]


def test_a_key_holding_an_array_is_delivered(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    props = {"id": {"type": "integer"}, "tags": {"type": "array"}}
    msgs = [schema(key=["tags"], props=props),
            *(record({"id": n, "tags": [n, "x"]}) for n in range(5)), state("end")]  # fmt: skip
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert sorted(_ids(vendor)) == list(range(5))
    assert result.states == ["end"]


# the same outcome as record by record, whatever the input ---------------------------------
_VALUE = st.one_of(
    st.integers(0, 6).map(lambda n: {"id": n}),  # repeated keys too
    st.integers(0, 6).map(lambda n: {"id": n, "name": "x"}),
    st.just({"id": "not an integer"}),  # fails its schema
    st.just({"id": 7, "bad": True}),  # the destination refuses its batch
    st.just({"id": 8, "_sdc_deleted_at": "2024-01-01T00:00:00Z"}),  # metadata kept
    st.just({"name": "no id"}),  # `prepare` refuses it (keyless stream) / no key
)
_MESSAGE = st.one_of(
    _VALUE.map(record), _VALUE.map(record), _VALUE.map(record), st.integers(0, 9).map(state)
)


def _outcome(result: Any, vendor: Any, keyed: bool) -> tuple[Any, ...]:
    """Exit code, last STATE (STATEs done together go out as one), items per key (in order; a
    keyless stream's have none), dead letters."""
    by_key: dict[str, list[Any]] = {}
    for item in vendor.items:
        by_key.setdefault(json.dumps(item.get("id")), []).append(json.dumps(item))
    if not keyed:
        by_key = {key: sorted(items) for key, items in by_key.items()}
    dead = sorted(json.dumps([d["record"], d["error"]], sort_keys=True) for d in result.dead)
    return result.exit_code, result.states[-1:], by_key, dead


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.lists(_MESSAGE, max_size=40), keyed=st.booleans())
def test_held_records_end_as_they_would_one_by_one(sandbox, tmp_path, caplog, body, keyed):
    msgs = [schema(key=None if keyed else [], props=NAMED), *body]
    outcomes = []
    for together in (True, False):
        original = CDPSink.accept_many
        if not together:

            def one_by_one(self, records, messages_, lines):
                for rec, message, line in zip(records, messages_, lines, strict=True):
                    self.accept(rec, message, line)

            CDPSink.accept_many = one_by_one  # type: ignore[method-assign]
        try:
            vendor = install_fake(sandbox)
            cfg = config(sandbox, tmp_path, max_concurrency=2)
            outcomes.append(_outcome(run(cfg, msgs, tmp_path, caplog), vendor, keyed))
        finally:
            CDPSink.accept_many = original  # type: ignore[method-assign]
            (tmp_path / "dead.jsonl").unlink(missing_ok=True)
    assert outcomes[0] == outcomes[1]
