"""`delete_missing`: a completed full-table version deletes, at Dmartech, the users delivered
earlier that it no longer holds; an incomplete version deletes nothing."""

from __future__ import annotations

from ledger_helpers import USERS_SCHEMA, config, deliver, dmartech, route_summary, rows, user


def _activate(version: int) -> dict:
    return {"type": "ACTIVATE_VERSION", "stream": "users", "version": version}


def _mirror(sandbox, tmp_path, ledger_uri, **extra):
    return config(
        sandbox, tmp_path, ledger_uri,
        route={"delete_missing": True},
        dmartech={"primary_keys": ["user_id", "email"]},
        **extra,
    )  # fmt: skip


def _full_table(version: int, ids, *, closed: bool = True) -> list:
    body = [USERS_SCHEMA, _activate(version), *[user(i, version) for i in ids]]
    return [*body, _activate(version)] if closed else body


def test_a_completed_version_deletes_the_users_it_no_longer_has(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = _mirror(sandbox, tmp_path, ledger_uri)
    first = deliver(cfg, _full_table(1, range(10)), tmp_path, caplog)
    assert first.exit_code == 0, first.logs
    assert dmartech(sandbox)["user_deletes"] == []

    second = deliver(cfg, _full_table(2, range(7)), tmp_path, caplog)
    assert second.exit_code == 0, second.logs
    deletes = dmartech(sandbox)["user_deletes"]
    assert sorted(d["user_id"] for d in deletes) == ["u7", "u8", "u9"]
    assert deletes[0] == {
        "user_id": deletes[0]["user_id"],
        "email": f"{deletes[0]['user_id']}@example.com",
    }
    counts = route_summary(second)
    assert (counts["deleted"], counts["unchanged"], counts["delivered"]) == (3, 7, 3)

    third = deliver(cfg, _full_table(3, range(7)), tmp_path, caplog)
    assert len(dmartech(sandbox)["user_deletes"]) == 3, "deleted keys are not deleted again"
    assert route_summary(third)["deleted"] == 0

    back = deliver(cfg, _full_table(4, [*range(7), 8]), tmp_path, caplog)
    assert route_summary(back)["added"] == 1, "a deleted key that returns is added again"


def test_an_incomplete_version_deletes_nothing(sandbox, tmp_path, caplog, ledger_uri):
    cfg = _mirror(sandbox, tmp_path, ledger_uri)
    deliver(cfg, _full_table(1, range(6)), tmp_path, caplog)
    # the tap stopped after three records: no closing ACTIVATE_VERSION
    result = deliver(cfg, _full_table(2, range(3), closed=False), tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert dmartech(sandbox)["user_deletes"] == []
    assert len(rows(ledger_uri, "cdp_delivered")) == 6


def test_records_refused_or_failing_in_the_version_are_not_deleted(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = _mirror(sandbox, tmp_path, ledger_uri)
    deliver(cfg, _full_table(1, range(4)), tmp_path, caplog)
    # u3 is still at the source but fails its schema this time
    invalid = user(3, 2, score="not a number")
    messages = [USERS_SCHEMA, _activate(2), *[user(i, 2) for i in range(3)], invalid, _activate(2)]
    result = deliver(cfg, messages, tmp_path, caplog)
    assert result.exit_code == 1  # the invalid record is dead-lettered
    assert dmartech(sandbox)["user_deletes"] == []


def test_a_record_deleted_at_the_source_is_sent_as_a_delete_once(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri, dmartech={"primary_keys": ["user_id"]})
    deliver(cfg, [USERS_SCHEMA, user(1), user(2)], tmp_path, caplog)
    tombstone = user(2, _sdc_deleted_at="2024-05-01T00:00:00Z")
    deliver(cfg, [USERS_SCHEMA, user(1), tombstone], tmp_path, caplog)
    assert dmartech(sandbox)["user_deletes"] == [{"user_id": "u2"}]
    again = deliver(cfg, [USERS_SCHEMA, user(1), tombstone], tmp_path, caplog)
    assert route_summary(again)["unchanged"] == 2
    assert len(dmartech(sandbox)["user_deletes"]) == 1


def test_a_record_back_after_a_delete_at_the_source_is_sent_again(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri, dmartech={"primary_keys": ["user_id"]})
    deliver(cfg, [USERS_SCHEMA, user(1), user(2)], tmp_path, caplog)
    tombstone = user(2, _sdc_deleted_at="2024-05-01T00:00:00Z")
    deliver(cfg, [USERS_SCHEMA, user(1), tombstone], tmp_path, caplog)
    back = deliver(cfg, [USERS_SCHEMA, user(1), user(2)], tmp_path, caplog)
    assert sorted(u["user_id"] for u in dmartech(sandbox)["users"]) == ["u1", "u2", "u2"]
    counts = route_summary(back)
    assert (counts["unchanged"], counts["added"]) == (1, 1)


def test_delete_missing_on_a_destination_without_deletes_is_a_config_error(
    sandbox, tmp_path, caplog
):
    cfg = config(sandbox, tmp_path, f"sqlite:///{tmp_path / 'l.db'}")
    cfg["mappings"] = [
        {"stream": "users", "destination": "nxcloud", "type": "customer", "delete_missing": True}
    ]
    cfg["nxcloud"] = {
        "base_url": sandbox.url,
        "access_key": "k",
        "access_secret": "s",
        "tenant_id": 1,
        "app_key": "a",
    }
    result = deliver(cfg, [USERS_SCHEMA, user(1)], tmp_path, caplog)
    assert result.exit_code == 2
    (line,) = [ln for ln in result.logs.splitlines() if "delete_missing" in ln]
    assert "users -> nxcloud:customer" in line


def test_delete_missing_without_a_ledger_is_a_config_error(sandbox, tmp_path, caplog):
    cfg = _mirror(sandbox, tmp_path, "none")
    result = deliver(cfg, _full_table(1, range(2)), tmp_path, caplog)
    assert result.exit_code == 2
    assert "ledger_uri is none" in result.logs


def test_a_dry_run_counts_deletes_and_sends_none(sandbox, tmp_path, caplog, ledger_uri):
    cfg = _mirror(sandbox, tmp_path, ledger_uri)
    deliver(cfg, _full_table(1, range(5)), tmp_path, caplog)
    before = rows(ledger_uri, "cdp_delivered")
    dry = deliver({**cfg, "dry_run": True}, _full_table(2, range(3)), tmp_path, caplog)
    assert dry.exit_code == 0, dry.logs
    assert route_summary(dry)["deleted"] == 2
    assert dmartech(sandbox)["user_deletes"] == []
    assert rows(ledger_uri, "cdp_delivered") == before


def test_deletes_that_failed_are_sent_by_the_next_run(sandbox, tmp_path, caplog, ledger_uri):
    cfg = _mirror(sandbox, tmp_path, ledger_uri)
    deliver(cfg, _full_table(1, range(4)), tmp_path, caplog)
    sandbox.set_faults(error_rate=1.0, seed=4)  # only the deletes are sent: the rest is unchanged
    failed = deliver(cfg, _full_table(2, range(2)), tmp_path, caplog)
    assert failed.exit_code == 1
    assert sorted(r["record_key"] for r in rows(ledger_uri, "cdp_failures")) == ["u2", "u3"]
    sandbox.set_faults()
    result = deliver(cfg, [USERS_SCHEMA], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert sorted(d["user_id"] for d in dmartech(sandbox)["user_deletes"]) == ["u2", "u3"]
    assert rows(ledger_uri, "cdp_failures") == []
