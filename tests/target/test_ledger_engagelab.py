"""EngageLab euids are remembered in the ledger: a rerun skips `/v1/user/register`; an euid
the vendor no longer knows (55108) is resolved again, once."""

from __future__ import annotations

from ledger_helpers import USERS_SCHEMA, deliver, route_summary, rows, user

LABEL = "users -> engagelab:user"


def _config(sandbox, tmp_path, ledger_uri, **extra):
    creds = sandbox.credentials
    return {
        "engagelab": {
            "base_url": sandbox.url,
            "api_key": creds.engagelab_api_key,
            "api_secret": creds.engagelab_api_secret,
            "identity_name": "user_id",
        },
        "mappings": [{"stream": "users", "destination": "engagelab", "type": "user"}],
        "ledger_uri": ledger_uri,
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "max_tries": 2,
        "max_retry_wait": 0.1,
        "progress_seconds": 0,
        **extra,
    }


def _registers(sandbox) -> int:
    return sandbox.calls().get("engagelab:register", 0)


def test_a_rerun_with_changed_users_skips_register(sandbox, tmp_path, caplog, ledger_uri):
    cfg = _config(sandbox, tmp_path, ledger_uri)
    first = deliver(cfg, [USERS_SCHEMA, *[user(i) for i in range(5)]], tmp_path, caplog)
    assert first.exit_code == 0, first.logs
    assert _registers(sandbox) >= 1
    remembered = rows(ledger_uri, "cdp_remembered_ids")
    assert sorted(r["value"] for r in remembered) == [f"u{i}" for i in range(5)]

    before = _registers(sandbox)
    changed = [user(i, name=f"renamed {i}") for i in range(5)]
    second = deliver(cfg, [USERS_SCHEMA, *changed], tmp_path, caplog)
    assert second.exit_code == 0, second.logs
    assert route_summary(second, LABEL)["delivered"] == 5
    assert _registers(sandbox) == before, "register was called for remembered users"
    props = sandbox.received()["engagelab"]["properties"]
    assert sorted(p["name"] for p in props.values()) == sorted(f"renamed {i}" for i in range(5))


def test_an_euid_the_vendor_forgot_is_resolved_again_once(sandbox, tmp_path, caplog, ledger_uri):
    cfg = _config(sandbox, tmp_path, ledger_uri, max_concurrency=1)  # one batch
    deliver(cfg, [USERS_SCHEMA, *[user(i) for i in range(3)]], tmp_path, caplog)
    sandbox.reset()  # the data source forgets every euid: remembered ones answer 55108
    changed = [user(i, name=f"again {i}") for i in range(3)]
    result = deliver(cfg, [USERS_SCHEMA, *changed], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert route_summary(result, LABEL)["delivered"] == 3
    assert _registers(sandbox) == 1, "one register call for the forgotten euids"
    props = sandbox.received()["engagelab"]["properties"]
    assert sorted(p["name"] for p in props.values()) == [f"again {i}" for i in range(3)]


def test_events_with_a_forgotten_euid_are_reported_after_resolving_again(
    sandbox, tmp_path, caplog, ledger_uri
):
    events_schema = {
        "type": "SCHEMA",
        "stream": "events",
        "schema": {"type": "object", "properties": {"id": {"type": "string"},
                   "user_id": {"type": "string"}, "at": {"type": "string"}}},
        "key_properties": ["id"],
    }  # fmt: skip
    route = {"stream": "events", "destination": "engagelab", "type": "event",
             "event_name": "visit", "time_property": "at", "event_id_property": "id"}  # fmt: skip
    cfg = _config(sandbox, tmp_path, ledger_uri)
    cfg["mappings"].append(route)

    def events(start):
        return [{"type": "RECORD", "stream": "events",
                 "record": {"id": f"e{start + i}", "user_id": f"u{i}",
                            "at": "2024-01-01T00:00:00Z"}} for i in range(3)]  # fmt: skip

    deliver(cfg, [USERS_SCHEMA, events_schema, *events(0)], tmp_path, caplog)
    sandbox.reset()
    result = deliver(cfg, [events_schema, *events(10)], tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    reported = sandbox.received()["engagelab"]["events"]
    assert sorted(e["random_id"] for e in reported) == ["e10", "e11", "e12"]
