"""The ledger's diffing, on a real SQLite file and a real PostgreSQL server: reruns send only
what changed; what is sent and counted is what users see in the sandbox and the summary."""

from __future__ import annotations

import json

from ledger_helpers import (
    USERS_SCHEMA,
    config,
    deliver,
    dmartech,
    route_summary,
    rows,
    upserts,
    user,
)

N = 12


def test_rerun_of_unchanged_input_sends_nothing(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    messages = [USERS_SCHEMA, *[user(i) for i in range(N)], {"type": "STATE", "value": {"n": 1}}]
    first = deliver(cfg, messages, tmp_path, caplog)
    assert first.exit_code == 0, first.logs
    assert len(upserts(sandbox)) == N
    assert route_summary(first)["added"] == N
    calls = sandbox.calls().get("dmartech:import", 0)

    second = deliver(cfg, messages, tmp_path, caplog)
    assert second.exit_code == 0, second.logs
    assert sandbox.calls().get("dmartech:import", 0) == calls, "a request was sent"
    assert len(upserts(sandbox)) == N
    counts = route_summary(second)
    assert (counts["received"], counts["delivered"], counts["unchanged"]) == (N, 0, N)
    assert second.summary["totals"]["unchanged"] == N
    assert f"unchanged {N}" in second.logs.splitlines()[-1]
    assert second.states == [{"n": 1}], "the STATE is still written"


def test_only_changed_records_are_resent(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    deliver(cfg, [USERS_SCHEMA, *[user(i) for i in range(N)]], tmp_path, caplog)
    changed = [user(i, score=100 + i) if i in (2, 5) else user(i) for i in range(N)]
    result = deliver(cfg, [USERS_SCHEMA, *changed, user(N)], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    resent = upserts(sandbox)[N:]
    assert sorted(u["user_id"] for u in resent) == ["u12", "u2", "u5"]
    assert {u["user_id"]: u["score"] for u in resent}["u5"] == 105
    counts = route_summary(result)
    assert (counts["added"], counts["changed"], counts["unchanged"]) == (1, 2, N - 2)


def test_a_mapping_change_resends_every_record(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    deliver(cfg, [USERS_SCHEMA, *[user(i) for i in range(N)]], tmp_path, caplog)
    mapped = config(
        sandbox, tmp_path, ledger_uri,
        route={"fields": {"user_id": "user_id", "email": "email", "full_name": "name"}},
    )  # fmt: skip
    result = deliver(mapped, [USERS_SCHEMA, *[user(i) for i in range(N)]], tmp_path, caplog)
    assert route_summary(result)["delivered"] == N
    assert all("full_name" in u for u in upserts(sandbox)[N:])


def test_property_order_does_not_count_as_a_change(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    deliver(cfg, [USERS_SCHEMA, user(1)], tmp_path, caplog)
    reordered = user(1)
    reordered["record"] = dict(reversed(list(reordered["record"].items())))
    result = deliver(cfg, [USERS_SCHEMA, reordered], tmp_path, caplog)
    assert route_summary(result)["unchanged"] == 1


def test_a_key_changing_and_changing_back_in_one_run_ends_as_the_source(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri, dmartech={"batch_size": 1})
    deliver(cfg, [USERS_SCHEMA, user(1, name="A")], tmp_path, caplog)
    # B differs from the ledger; the last A equals the ledger but not what is in flight (B)
    result = deliver(cfg, [USERS_SCHEMA, user(1, name="B"), user(1, name="A")], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert [u["name"] for u in upserts(sandbox)] == ["A", "B", "A"]
    third = deliver(cfg, [USERS_SCHEMA, user(1, name="A")], tmp_path, caplog)
    assert route_summary(third)["unchanged"] == 1


def test_a_first_run_sends_a_repeated_key_once_per_payload(sandbox, tmp_path, caplog, ledger_uri):
    # nothing in the ledger yet: each record is decided at once against what is in flight
    cfg = config(sandbox, tmp_path, ledger_uri)
    repeated = [user(1, name="A"), user(2), user(1, name="A"), user(1, name="B"), user(2)]
    result = deliver(cfg, [USERS_SCHEMA, *repeated], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    sent = [(u["user_id"], u["name"]) for u in upserts(sandbox)]  # keys on lanes of their own
    assert [name for key, name in sent if key == "u1"] == ["A", "B"]
    assert [name for key, name in sent if key == "u2"] == ["User 2"]
    counts = route_summary(result)
    assert (counts["added"], counts["changed"], counts["unchanged"]) == (2, 1, 2)
    again = deliver(cfg, [USERS_SCHEMA, user(1, name="B"), user(2)], tmp_path, caplog)
    assert route_summary(again)["unchanged"] == 2


def test_a_long_first_run_counts_every_record_once(sandbox, tmp_path, caplog, ledger_uri):
    # a first run adds its counts every 1,000 records: one record past that, none lost
    cfg = config(sandbox, tmp_path, ledger_uri, dmartech={"batch_size": 250})
    result = deliver(cfg, [USERS_SCHEMA, *[user(i) for i in range(1_001)]], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    counts = route_summary(result)
    assert [counts[k] for k in ("received", "delivered", "added", "changed", "unchanged")] == [
        1_001, 1_001, 1_001, 0, 0]  # fmt: skip
    assert len(rows(ledger_uri, "cdp_delivered")) == 1_001


def test_full_resync_sends_everything_and_still_updates_the_ledger(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri)
    messages = [USERS_SCHEMA, *[user(i) for i in range(N)]]
    deliver(cfg, messages, tmp_path, caplog)
    resync = deliver({**cfg, "full_resync": True}, messages, tmp_path, caplog)
    assert route_summary(resync)["delivered"] == N
    assert len(upserts(sandbox)) == 2 * N
    again = deliver(cfg, messages, tmp_path, caplog)
    assert route_summary(again)["unchanged"] == N
    assert len(rows(ledger_uri, "cdp_delivered")) == N


def test_event_routes_are_not_diffed_by_default(sandbox, tmp_path, caplog, ledger_uri):
    events_schema = {
        "type": "SCHEMA",
        "stream": "events",
        "schema": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "user_id": {"type": "string"},
                "at": {"type": "string"},
            },
        },
        "key_properties": ["id"],
    }
    route = {
        "stream": "events",
        "destination": "dmartech",
        "type": "event",
        "event_name": "visit",
        "event_id_property": "id",
        "create_time_property": "at",
    }
    cfg = config(sandbox, tmp_path, ledger_uri, more_routes=[route])
    events = [
        {"type": "RECORD", "stream": "events",
         "record": {"id": f"e{i}", "user_id": f"u{i}", "at": "2024-01-02T03:04:05Z"}}
        for i in range(4)
    ]  # fmt: skip
    deliver(cfg, [events_schema, *events], tmp_path, caplog)
    second = deliver(cfg, [events_schema, *events], tmp_path, caplog)
    counts = route_summary(second, "events -> dmartech:event")
    assert (counts["delivered"], counts["unchanged"]) == (4, 0)
    assert dmartech(sandbox)["counts"]["duplicate_events"] == 4
    assert rows(ledger_uri, "cdp_delivered") == [], "event keys are not kept"


def test_diff_false_on_a_user_route_sends_every_time(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri, route={"diff": False})
    messages = [USERS_SCHEMA, *[user(i) for i in range(3)]]
    deliver(cfg, messages, tmp_path, caplog)
    deliver(cfg, messages, tmp_path, caplog)
    assert len(upserts(sandbox)) == 6


def test_run_history_has_one_row_per_run_and_route(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    messages = [USERS_SCHEMA, *[user(i) for i in range(N)]]
    deliver(cfg, messages, tmp_path, caplog)
    deliver(cfg, messages, tmp_path, caplog)
    history = sorted(rows(ledger_uri, "cdp_runs"), key=lambda r: r["id"])
    assert [(r["status"], r["delivered"], r["unchanged"]) for r in history] == [
        ("ok", N, 0),
        ("ok", 0, N),
    ]
    assert all(r["finished_at"] is not None for r in history)
    (route,) = rows(ledger_uri, "cdp_routes")
    assert route["label"] == "users -> dmartech:user"


def test_dry_run_counts_what_would_change_and_writes_nothing(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    deliver(cfg, [USERS_SCHEMA, *[user(i) for i in range(N)]], tmp_path, caplog)
    before = {t: rows(ledger_uri, t) for t in ("cdp_delivered", "cdp_runs", "cdp_failures")}
    calls = sandbox.calls().get("dmartech:import", 0)
    changed = [user(i, score=-1 - i) if i < 3 else user(i) for i in range(N)]
    dry = deliver({**cfg, "dry_run": True}, [USERS_SCHEMA, *changed, user(99)], tmp_path, caplog)
    assert dry.exit_code == 0, dry.logs
    counts = route_summary(dry)
    assert (counts["added"], counts["changed"], counts["unchanged"]) == (1, 3, N - 3)
    assert sandbox.calls().get("dmartech:import", 0) == calls, "a dry run sent a request"
    assert {t: rows(ledger_uri, t) for t in before} == before, "a dry run wrote the ledger"
    sent = [json.loads(line) for line in (tmp_path / "dry.jsonl").read_text().splitlines()]
    assert sum(len(c["body"]["properties"]) if c["label"] == "user_batch" else 1
               for c in sent) == 4  # fmt: skip


def test_dry_run_without_a_ledger_file_creates_none(sandbox, tmp_path, caplog):
    uri = f"sqlite:///{tmp_path / 'never.db'}"
    cfg = config(sandbox, tmp_path, uri, dry_run=True)
    result = deliver(cfg, [USERS_SCHEMA, user(1)], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert route_summary(result)["added"] == 1
    assert not (tmp_path / "never.db").exists()


def test_ledger_none_keeps_no_memory(sandbox, tmp_path, caplog):
    cfg = config(sandbox, tmp_path, "none")
    messages = [USERS_SCHEMA, *[user(i) for i in range(3)]]
    deliver(cfg, messages, tmp_path, caplog)
    result = deliver(cfg, messages, tmp_path, caplog)
    assert route_summary(result)["delivered"] == 3
    assert len(upserts(sandbox)) == 6
    assert not list(tmp_path.glob("*.db"))
