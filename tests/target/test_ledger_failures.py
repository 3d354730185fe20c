"""Failed records across runs: transient failures are resent by the next run before new
input, refused ones wait until they change, a stopped run leaves its records pending."""

from __future__ import annotations

from ledger_helpers import USERS_SCHEMA, config, deliver, route_summary, rows, upserts, user


def _down(sandbox):
    sandbox.set_faults(error_rate=1.0, seed=1)


def test_records_that_exhausted_retries_are_sent_first_by_the_next_run(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri)
    _down(sandbox)
    first = deliver(cfg, [USERS_SCHEMA, *[user(i) for i in range(6)]], tmp_path, caplog)
    assert first.exit_code == 1
    assert len(first.dead) == 6, "the dead-letter file stays as it is"
    assert route_summary(first)["pending"] == 6
    pending = rows(ledger_uri, "cdp_failures")
    assert sorted(r["record_key"] for r in pending) == [f"u{i}" for i in range(6)]
    assert {r["kind"] for r in pending} == {"pending"}
    sandbox.set_faults()

    # new input changes u1: the pending (old) u1 must go first, the new one last
    second = deliver(cfg, [USERS_SCHEMA, user(1, name="new"), user(7)], tmp_path, caplog)
    assert second.exit_code == 0, second.logs
    assert "Resending 6 records left pending" in second.logs
    sent = upserts(sandbox)
    assert sorted({u["user_id"] for u in sent}) == sorted([f"u{i}" for i in range(6)] + ["u7"])
    last_u1 = [u for u in sent if u["user_id"] == "u1"][-1]
    assert last_u1["name"] == "new"
    assert route_summary(second)["retried"] == 6
    assert rows(ledger_uri, "cdp_failures") == []
    assert len(second.dead) == 6, "the dead-letter file is not rewritten"

    third = deliver(cfg, [USERS_SCHEMA, user(1, name="new"), user(7)], tmp_path, caplog)
    assert route_summary(third)["unchanged"] == 2
    assert len(upserts(sandbox)) == len(sent)


def test_retry_failed_false_leaves_pending_records_alone(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    _down(sandbox)
    deliver(cfg, [USERS_SCHEMA, user(1), user(2)], tmp_path, caplog)
    sandbox.set_faults()
    result = deliver({**cfg, "retry_failed": False}, [USERS_SCHEMA], tmp_path, caplog)
    assert result.exit_code == 0
    assert upserts(sandbox) == []
    assert len(rows(ledger_uri, "cdp_failures")) == 2


def test_refused_records_are_not_resent_until_they_change(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    # no primary key value at all: the sandbox's Dmartech refuses it (20001)
    bad = {"type": "RECORD", "stream": "users", "record": {"user_id": "x", "name": "no keys"}}
    cfg["mappings"][0]["fields"] = {"email": "email", "name": "name"}
    first = deliver(cfg, [USERS_SCHEMA, bad, user(1)], tmp_path, caplog)
    assert first.exit_code == 1
    assert [d["record"]["user_id"] for d in first.dead] == ["x"]
    (refused,) = rows(ledger_uri, "cdp_failures")
    assert (refused["record_key"], refused["kind"], refused["payload"]) == ("x", "refused", None)

    calls = sandbox.calls().get("dmartech:import", 0)
    again = deliver(cfg, [USERS_SCHEMA, bad, user(1)], tmp_path, caplog)
    assert again.exit_code == 0, again.logs
    assert sandbox.calls().get("dmartech:import", 0) == calls
    assert route_summary(again)["unchanged"] == 2

    fixed = {**bad, "record": {**bad["record"], "email": "x@example.com"}}
    third = deliver(cfg, [USERS_SCHEMA, fixed], tmp_path, caplog)
    assert third.exit_code == 0, third.logs
    assert upserts(sandbox)[-1]["email"] == "x@example.com"
    assert rows(ledger_uri, "cdp_failures") == []


def test_a_run_stopped_by_credentials_leaves_its_records_pending(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri)
    wrong = {**cfg, "dmartech": {**cfg["dmartech"], "secret": "not-the-secret"}}
    messages = [USERS_SCHEMA, *[user(i) for i in range(8)], {"type": "STATE", "value": 1}]
    stopped = deliver(wrong, messages, tmp_path, caplog)
    assert stopped.exit_code == 1
    assert stopped.states == [], "no STATE for undelivered records"
    assert len(rows(ledger_uri, "cdp_failures")) == 8
    assert "not-the-secret" not in str(rows(ledger_uri, "cdp_failures"))

    result = deliver(cfg, [USERS_SCHEMA], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert sorted(u["user_id"] for u in upserts(sandbox)) == sorted(f"u{i}" for i in range(8))
    assert rows(ledger_uri, "cdp_failures") == []
    history = sorted(rows(ledger_uri, "cdp_runs"), key=lambda r: r["id"])
    assert [r["status"] for r in history] == ["stopped", "ok"]


def test_a_record_left_pending_counts_its_first_attempt(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    wrong = {**cfg, "dmartech": {**cfg["dmartech"], "secret": "not-the-secret"}}
    messages = [USERS_SCHEMA, *[user(i) for i in range(4)]]
    assert deliver(wrong, messages, tmp_path, caplog).exit_code == 1
    failures = rows(ledger_uri, "cdp_failures")
    assert sorted((f["record_key"], f["kind"], f["attempts"]) for f in failures) == [
        (f"u{i}", "pending", 1) for i in range(4)
    ]


def test_records_a_stopped_retry_run_did_not_reach_are_retried_by_the_next(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri, dmartech={"batch_size": 1})
    wrong = {**cfg, "dmartech": {**cfg["dmartech"], "secret": "not-the-secret"}}
    assert deliver(wrong, [USERS_SCHEMA, *[user(i) for i in range(4)]], tmp_path,
                   caplog).exit_code == 1  # fmt: skip
    assert deliver(wrong, [USERS_SCHEMA], tmp_path, caplog).exit_code == 1  # stops at the first
    result = deliver(cfg, [USERS_SCHEMA], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert sorted(u["user_id"] for u in upserts(sandbox)) == [f"u{i}" for i in range(4)]
    assert rows(ledger_uri, "cdp_failures") == []


def test_each_failed_attempt_is_counted_run_after_run(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    _down(sandbox)
    assert deliver(cfg, [USERS_SCHEMA, user(1), user(2)], tmp_path, caplog).exit_code == 1
    assert deliver(cfg, [USERS_SCHEMA], tmp_path, caplog).exit_code == 1  # the retry fails too
    failures = rows(ledger_uri, "cdp_failures")
    assert sorted((f["record_key"], f["kind"], f["attempts"]) for f in failures) == [
        ("u1", "pending", 2),
        ("u2", "pending", 2),
    ]


def test_every_pending_record_is_resent_by_one_run(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    _down(sandbox)
    many = [user(i) for i in range(45)]
    assert deliver(cfg, [USERS_SCHEMA, *many], tmp_path, caplog).exit_code == 1
    sandbox.set_faults()
    result = deliver(cfg, [USERS_SCHEMA], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert route_summary(result)["retried"] == 45
    assert sorted(u["user_id"] for u in upserts(sandbox)) == sorted(f"u{i}" for i in range(45))
    assert rows(ledger_uri, "cdp_failures") == []
