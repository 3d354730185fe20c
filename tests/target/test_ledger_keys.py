"""Keys of every JSON shape on a diffing route: a number, a fractional number, several key
properties (with text outside ASCII). A rerun of the same input sends nothing; a change
resends that record only."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ledger_helpers import USERS_SCHEMA, config, deliver, route_summary, rows, upserts, user

from target_cdp.ledger.database import parse_uri
from target_cdp.ledger.store import Ledger

N = 6


def keyed(keys: list[str]) -> dict[str, Any]:
    schema = copy.deepcopy(USERS_SCHEMA)
    schema["schema"]["properties"]["weight"] = {"type": ["number", "null"]}
    schema["key_properties"] = keys
    return schema


def record(i: int, **fields: Any) -> dict[str, Any]:
    message = user(i, name=f"Zoë «{i}»", weight=i + 0.5)
    message["record"].update(fields)
    return message


@pytest.mark.parametrize(
    "keys", [["score"], ["weight"], ["user_id", "name"]], ids=["int", "fraction", "composite"]
)
def test_a_rerun_sends_only_what_changed_whatever_the_key(
    sandbox, tmp_path, caplog, ledger_uri, keys
):
    cfg = config(sandbox, tmp_path, ledger_uri)
    messages = [keyed(keys), *[record(i) for i in range(N)]]
    first = deliver(cfg, messages, tmp_path, caplog)
    assert first.exit_code == 0, first.logs
    assert len(upserts(sandbox)) == N

    again = deliver(cfg, messages, tmp_path, caplog)
    assert again.exit_code == 0, again.logs
    assert len(upserts(sandbox)) == N, "an unchanged record was sent again"
    assert route_summary(again)["unchanged"] == N

    changed = [record(i, email="new@example.com") if i == 2 else record(i) for i in range(N)]
    third = deliver(cfg, [keyed(keys), *changed], tmp_path, caplog)
    assert third.exit_code == 0, third.logs
    assert [u["user_id"] for u in upserts(sandbox)[N:]] == ["u2"]
    counts = route_summary(third)
    assert (counts["changed"], counts["unchanged"]) == (1, N - 1)


def test_a_stream_without_key_properties_is_delivered_whole_every_run(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri)
    schema = {**USERS_SCHEMA, "key_properties": []}
    messages = [schema, *[user(i) for i in range(N)], {"type": "STATE", "value": {"n": N}}]
    for run in (1, 2):  # nothing to compare a keyless record with: sent each run
        result = deliver(cfg, messages, tmp_path, caplog)
        assert result.exit_code == 0, result.logs
        assert sorted(u["user_id"] for u in upserts(sandbox)) == sorted(
            f"u{i}" for i in range(N) for _ in range(run)
        )
        assert result.states == [{"n": N}]


def test_a_refused_record_without_key_properties_is_dead_lettered_and_the_run_goes_on(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri)
    cfg["mappings"][0]["fields"] = {"email": "email", "name": "name"}
    schema = {**USERS_SCHEMA, "key_properties": []}
    bad = {"type": "RECORD", "stream": "users", "record": {"user_id": "x", "name": "no keys"}}
    messages = [schema, bad, *[user(i) for i in range(N)], {"type": "STATE", "value": {"n": 1}}]
    result = deliver(cfg, messages, tmp_path, caplog)
    assert result.exit_code == 1, result.logs  # rejections, not a stop
    assert [d["record"]["user_id"] for d in result.dead] == ["x"]
    assert len(upserts(sandbox)) == N and result.states == [{"n": 1}]
    assert route_summary(result)["rejected"] == 1


def test_delivered_rows_of_every_shape_written_together_read_back_as_given(ledger_uri):
    """One settle holding usual upserts (written as key and hash only) and rows with delete
    values, a deletion or a version: each row reads back exactly as given."""
    url = parse_uri(ledger_uri)
    assert url is not None
    ledger = Ledger(url)
    ledger.open()
    try:
        route_id = ledger.route_ids(["users -> dmartech:user"])["users -> dmartech:user"]
        assert route_id is not None
        run_id = ledger.start_runs([route_id])[route_id]
        given = [("u1", "h1", None, False, None), ("u2", "h2", '{"id":"u2"}', False, 7),
                 ("u3", "h3", None, True, None), ("u4", "h4", None, False, 3),
                 ("u5", "h5", None, False, None)]  # fmt: skip
        ledger.settle(route_id, run_id, given, [], [])
        ledger.settle(route_id, run_id, [("u1", "h1b", '{"id":"u1"}', False, 9),
                                         ("u2", "h2b", None, False, None)], [], [])  # fmt: skip
    finally:
        ledger.close()
    read = {r["record_key"]: (r["payload_hash"], r["delete_values"], bool(r["deleted"]),
                              r["version"]) for r in rows(ledger_uri, "cdp_delivered")}  # fmt: skip
    assert read == {
        "u1": ("h1b", '{"id":"u1"}', False, 9),
        "u2": ("h2b", None, False, None),
        "u3": ("h3", None, True, None),
        "u4": ("h4", None, False, 3),
        "u5": ("h5", None, False, None),
    }
