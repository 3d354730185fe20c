"""EngageLab event batches with more than 100 distinct users: the euid lookup takes 100
identities a call, and every event still reaches the user it belongs to."""

from __future__ import annotations

from typing import Any

from core_fake import record, run, schema, state

from target_cdp.target import TargetCDP

USERS = 150  # one event each, all in one batch: two register calls (100 + 50)
EVENTS = {
    "id": {"type": "string"},
    "uid": {"type": "string"},
    "at": {"type": "string", "format": "date-time"},
}


def lab_config(sandbox: Any, tmp_path: Any) -> dict[str, Any]:
    creds = sandbox.credentials
    return {
        "engagelab": {
            "base_url": sandbox.url,
            "api_key": creds.engagelab_api_key,
            "api_secret": creds.engagelab_api_secret,
            "batch_size": 200,
            "max_concurrency": 1,
        },
        "mappings": [
            {
                "stream": "events",
                "destination": "engagelab",
                "type": "event",
                "identity_property": "uid",
                "event_name": "page_view",
                "time_property": "at",
                "event_id_property": "id",
            }
        ],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "max_tries": 2,
        "max_retry_wait": 0.1,
        "progress_seconds": 0,
    }


def test_events_of_more_than_100_users_in_one_batch_reach_their_users(sandbox, tmp_path, caplog):
    messages = [schema("events", ["id"], EVENTS)]
    for n in range(USERS):
        row = {"id": f"e{n}", "uid": f"user-{n}", "at": "2024-05-01T10:00:00Z"}
        messages.append(record(row, "events"))
    messages.append(state({"events": USERS}))
    result = run(lab_config(sandbox, tmp_path), messages, tmp_path, caplog, TargetCDP)
    assert result.exit_code == 0, result.logs
    assert result.dead == []
    assert result.states == [{"events": USERS}]
    calls = sandbox.calls()
    assert calls["engagelab:register"] == 2  # 100 identities, then the other 50
    assert calls["engagelab:event"] == 1  # one report for the whole batch
    got = sandbox.received()["engagelab"]
    assert got["counts"]["identities"] == USERS
    assert got["counts"]["events"] == USERS
    euids = {key.split(":", 1)[1]: euid for key, euid in got["identities"].items()}
    owner = {event["random_id"]: event["euid"] for event in got["events"]}
    assert owner == {f"e{n}": euids[f"user-{n}"] for n in range(USERS)}


def test_a_batch_of_exactly_100_users_needs_one_lookup(sandbox, tmp_path, caplog):
    messages = [schema("events", ["id"], EVENTS)]
    for n in range(100):
        row = {"id": f"e{n}", "uid": f"user-{n % 100}", "at": "2024-05-01T10:00:00Z"}
        messages.append(record(row, "events"))
    # a repeated user in the same batch is looked up once
    messages.append(record({"id": "e100", "uid": "user-7", "at": "2024-05-01T10:00:01Z"}, "events"))
    result = run(lab_config(sandbox, tmp_path), messages, tmp_path, caplog, TargetCDP)
    assert result.exit_code == 0, result.logs
    assert sandbox.calls()["engagelab:register"] == 1
    got = sandbox.received()["engagelab"]
    assert got["counts"] == {**got["counts"], "identities": 100, "events": 101}
    owner = {event["random_id"]: event["euid"] for event in got["events"]}
    assert owner["e100"] == owner["e7"] == got["identities"]["user_id:user-7"]
