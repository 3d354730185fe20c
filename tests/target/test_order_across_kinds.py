"""One key's records keep their order across batch kinds: an upsert and a delete of the same
user in one run reach the destination in the order they were read.

Dmartech batches upserts (`user_batch`) but sends each `user_delete` alone, so a delete read
after an upsert that still sits in an open batch must flush that batch first; otherwise the
delete arrives first and the late upsert re-creates the user.
"""

from __future__ import annotations

from typing import Any

from core_fake import FakeDest, FakeTarget, config, install_fake, record, run, schema, state

from target_cdp.settings import build_config_schema
from target_cdp.target import TargetCDP

DELETED_AT = "2024-05-01T10:00:00Z"
PEOPLE = {
    "id": {"type": "string"},
    "phone": {"type": "string"},
    "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
}


def person(pid: str, *, deleted: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {"id": pid, "phone": f"0900{pid[1:]}"}
    if deleted:
        row["_sdc_deleted_at"] = DELETED_AT
    return record(row, "people")


def dmartech_config(sandbox: Any, tmp_path: Any) -> dict[str, Any]:
    """people -> Dmartech users (phone -> mobile), one lane so arrival order is the send order."""
    return {
        "dmartech": {
            "api_url": sandbox.url,
            "secret": sandbox.credentials.dmartech_secret,
            "primary_keys": ["mobile"],
            "batch_size": 50,
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
        "max_tries": 2,
        "max_retry_wait": 0.1,
        "progress_seconds": 0,
    }


def test_dmartech_upsert_then_delete_of_one_user_arrives_upsert_first(sandbox, tmp_path, caplog):
    messages = [
        schema("people", ["id"], PEOPLE),
        person("p1"),
        person("p2"),
        person("p1", deleted=True),
        person("p3"),
        state({"people": 4}),
    ]
    result = run(dmartech_config(sandbox, tmp_path), messages, tmp_path, caplog, TargetCDP)
    assert result.exit_code == 0, result.logs
    assert result.states == [{"people": 4}]
    got = sandbox.received()["dmartech"]
    # the open batch holding p1's upsert leaves before p1's delete; p3 comes after both
    assert got["imports"] == ["user_batch", "user_delete", "user"]
    assert got["users"] == [{"mobile": "09001"}, {"mobile": "09002"}, {"mobile": "09003"}]
    assert got["user_deletes"] == [{"mobile": "09001"}]


def test_dmartech_delete_then_upsert_of_one_user_arrives_delete_first(sandbox, tmp_path, caplog):
    messages = [
        schema("people", ["id"], PEOPLE),
        person("p2"),
        person("p1", deleted=True),
        person("p1"),
        state({"people": 3}),
    ]
    result = run(dmartech_config(sandbox, tmp_path), messages, tmp_path, caplog, TargetCDP)
    assert result.exit_code == 0, result.logs
    got = sandbox.received()["dmartech"]
    # the user re-created after its deletion exists at the end, as the input says
    assert got["imports"] == ["user_delete", "user_batch"]
    assert got["users"] == [{"mobile": "09002"}, {"mobile": "09001"}]


class KindedDest(FakeDest):
    """The fake destination with deletes batched apart from upserts, both in batches of 3."""

    def batch_key(self, route, item):
        return "delete" if item.get("deleted") else "upsert"


class KindedTarget(FakeTarget):
    destinations = {"fake": KindedDest}
    config_jsonschema = build_config_schema(destinations)


def _fake_run(sandbox, tmp_path, caplog, rows: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    vendor = install_fake(sandbox)
    props = {"id": {"type": "integer"}, "_sdc_deleted_at": {"type": ["string", "null"]}}
    messages = [schema(props=props), *(record(r) for r in rows), state("end")]
    cfg = config(sandbox, tmp_path, max_concurrency=1, state_flush_seconds=1000)
    result = run(cfg, messages, tmp_path, caplog, KindedTarget)
    assert result.exit_code == 0, result.logs
    assert result.states == ["end"]
    return [(item["id"], bool(item.get("deleted"))) for item in vendor.items]


def test_batched_delete_after_an_upsert_of_the_same_key_waits_for_it(sandbox, tmp_path, caplog):
    # the delete batch opens first (key 2), so only the same-key flush sends 1's upsert first
    rows = [{"id": 2, "_sdc_deleted_at": DELETED_AT}, {"id": 1}]
    rows += [{"id": 1, "_sdc_deleted_at": DELETED_AT}, {"id": 3}]
    got = _fake_run(sandbox, tmp_path, caplog, rows)
    assert got.index((1, False)) < got.index((1, True))
    assert sorted(got) == [(1, False), (1, True), (2, True), (3, False)]


def test_batched_upsert_after_a_delete_of_the_same_key_waits_for_it(sandbox, tmp_path, caplog):
    # the upsert batch opens first (key 2), so only the same-key flush sends 1's delete first
    rows = [{"id": 2}, {"id": 1, "_sdc_deleted_at": DELETED_AT}, {"id": 1}, {"id": 3}]
    got = _fake_run(sandbox, tmp_path, caplog, rows)
    assert got.index((1, True)) < got.index((1, False))
    assert sorted(got) == [(1, False), (1, True), (2, False), (3, False)]


def test_a_key_holding_an_array_keeps_its_order_and_stops_nothing(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    props = {
        "id": {"type": "array", "items": {"type": "integer"}},
        "_sdc_deleted_at": {"type": ["string", "null"]},
    }
    rows = [{"id": [2], "_sdc_deleted_at": DELETED_AT}, {"id": [1, 1]}]
    rows += [{"id": [1, 1], "_sdc_deleted_at": DELETED_AT}, {"id": [3]}]
    messages = [schema(props=props), *(record(r) for r in rows), state("end")]
    cfg = config(sandbox, tmp_path, max_concurrency=2, state_flush_seconds=1000)
    result = run(cfg, messages, tmp_path, caplog, KindedTarget)
    assert result.exit_code == 0, result.logs
    assert result.states == ["end"]
    got = [(item["id"], bool(item.get("deleted"))) for item in vendor.items]
    assert got.index(([1, 1], False)) < got.index(([1, 1], True))
    assert len(got) == 4
