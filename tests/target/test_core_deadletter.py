"""Refused batches are split until the culprits are isolated; only they are dead-lettered."""

from __future__ import annotations

from core_fake import config, install_fake, record, run, schema, state

PROPS = {"id": {"type": "integer"}, "bad": {"type": "boolean"}}


def test_refused_batch_is_split_to_the_culprits(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    cfg = config(sandbox, tmp_path, max_concurrency=1)
    cfg["fake"]["batch_size"] = 8
    recs = [record({"id": i, **({"bad": True} if i in (3, 6) else {})}) for i in range(8)]
    result = run(cfg, [schema(props=PROPS), *recs, state("done")], tmp_path, caplog)
    assert result.exit_code == 1
    assert result.states == ["done"]
    assert sorted(i["id"] for i in vendor.items) == [0, 1, 2, 4, 5, 7]
    dead = sorted(result.dead, key=lambda d: d["record"]["id"])
    assert [d["record"]["id"] for d in dead] == [3, 6]
    assert dead[0]["error"] == {"code": "4001", "message": "item 3 is bad"}
    assert set(dead[0]) == {"stream", "destination", "type", "record", "error", "at"}
    [route] = result.summary["routes"]
    assert (route["received"], route["delivered"], route["rejected"]) == (8, 6, 2)
    assert "rejected 2" in result.logs.strip().splitlines()[-1]


def test_schema_invalid_records_are_dead_lettered(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    msgs = [schema(), record({"id": 1}), record({"id": "two"}), record({"id": 3}), state(1)]
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert sorted(i["id"] for i in vendor.items) == [1, 3]
    [dead] = result.dead
    assert dead["error"]["code"] == "schema_invalid" and "id" in dead["error"]["message"]
    assert "line 3: stream 'people' record key 'two' fails its schema" in result.logs
    assert result.states == [1]


def test_retries_exhausted_dead_letters_the_batch(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    sandbox.set_faults(error_rate=1.0, seed=3)
    cfg = config(sandbox, tmp_path, max_tries=2, max_retry_wait=0.01, max_concurrency=1)
    msgs = [schema(), record({"id": 1}), record({"id": 2}), state("s")]
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert vendor.items == []
    assert len(result.dead) == 2
    assert result.dead[0]["error"]["code"] in {"500", "502", "503"}
    assert "gave up after 2 tries" in result.dead[0]["error"]["message"]
    assert result.states == ["s"]  # dead-lettered counts as done
    [route] = result.summary["routes"]
    assert route["requests"] == 2 and route["retries"] == 1
    assert "Traceback" not in result.logs


def test_per_item_rejections_from_deliver(sandbox, tmp_path, caplog):
    from core_fake import FakeDest, FakeTarget

    from target_cdp.vendors.base import Answer, Outcome

    class Picky(FakeDest):
        def deliver(self, route, items, send):
            send(self.build(route, items))
            return [
                (n, Answer(Outcome.REJECTED, "odd", f"id {item['id']} is odd"))
                for n, item in enumerate(items)
                if item["id"] % 2
            ]

    class PickyTarget(FakeTarget):
        destinations = {"fake": Picky}

    install_fake(sandbox)
    msgs = [schema(), *[record({"id": i}) for i in range(6)], state("s")]
    result = run(config(sandbox, tmp_path), msgs, tmp_path, caplog, PickyTarget)
    assert result.exit_code == 1
    assert sorted(d["record"]["id"] for d in result.dead) == [1, 3, 5]
    assert result.dead[0]["error"]["code"] == "odd"
    [route] = result.summary["routes"]
    assert (route["delivered"], route["rejected"]) == (3, 3)
    assert result.states == ["s"]
