"""A ledger that cannot be used stops the run before anything is sent, with one line naming
`ledger_uri`; the password is never shown; a newer ledger is refused; secrets stay out."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from ledger_helpers import USERS_SCHEMA, config, deliver, execute, rows, upserts, user
from postgres_server import PASSWORD


def _one_error_line(result) -> str:
    lines = [ln for ln in result.logs.splitlines() if "ledger_uri" in ln]
    assert len(lines) == 1, result.logs
    assert "Traceback" not in result.logs
    return lines[0]


def test_an_unwritable_sqlite_ledger_stops_before_sending(sandbox, tmp_path, caplog):
    cfg = config(sandbox, tmp_path, f"sqlite:///{tmp_path / 'missing-dir' / 'l.db'}")
    result = deliver(cfg, [USERS_SCHEMA, user(1)], tmp_path, caplog)
    assert result.exit_code == 2
    assert "missing-dir" in _one_error_line(result)
    assert sandbox.calls() == {}


def test_an_unreachable_postgresql_ledger_never_shows_its_password(sandbox, tmp_path, caplog):
    uri = f"postgresql://cdp:{quote(PASSWORD, safe='')}@127.0.0.1:1/ledger"
    result = deliver(config(sandbox, tmp_path, uri), [USERS_SCHEMA, user(1)], tmp_path, caplog)
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "127.0.0.1:1" in line
    for form in (PASSWORD, quote(PASSWORD, safe="")):
        assert form not in result.logs + result.stdout
    assert sandbox.calls() == {}


def test_a_wrong_postgresql_password_is_one_line(sandbox, tmp_path, caplog, postgres):
    uri = postgres.url("postgres").replace(quote(PASSWORD, safe=""), "wrong-pw")
    result = deliver(config(sandbox, tmp_path, uri), [USERS_SCHEMA, user(1)], tmp_path, caplog)
    assert result.exit_code == 2
    assert "password" in _one_error_line(result).lower()
    assert "wrong-pw" not in result.logs


@pytest.mark.parametrize("uri", ["mysql://u@h/db", "sqlite://", "::not a url::"])
def test_an_unsupported_ledger_uri_is_a_config_error(sandbox, tmp_path, caplog, uri):
    result = deliver(config(sandbox, tmp_path, uri), [USERS_SCHEMA, user(1)], tmp_path, caplog)
    assert result.exit_code == 2
    _one_error_line(result)


def test_a_ledger_from_a_newer_release_is_refused(sandbox, tmp_path, caplog, ledger_uri):
    cfg = config(sandbox, tmp_path, ledger_uri)
    deliver(cfg, [USERS_SCHEMA, user(1)], tmp_path, caplog)
    execute(ledger_uri, "UPDATE cdp_meta SET value = '99' WHERE name = 'schema_version'")
    result = deliver(cfg, [USERS_SCHEMA, user(2)], tmp_path, caplog)
    assert result.exit_code == 2
    assert "newer target-cdp" in _one_error_line(result)
    assert len(upserts(sandbox)) == 1


def test_no_secret_in_the_ledger(sandbox, tmp_path, caplog, ledger_uri):
    secret = sandbox.credentials.dmartech_secret
    cfg = config(sandbox, tmp_path, ledger_uri)
    leaky = [user(i, name=f"has {secret} inside") for i in range(3)]
    sandbox.set_faults(error_rate=1.0, seed=3)  # pending rows keep whole records
    deliver(cfg, [USERS_SCHEMA, *leaky], tmp_path, caplog)
    sandbox.set_faults()
    deliver(cfg, [USERS_SCHEMA, user(5)], tmp_path, caplog)
    deliver({**cfg, "dmartech": {**cfg["dmartech"], "secret": "x"}},
            [USERS_SCHEMA, user(6)], tmp_path, caplog)  # fmt: skip
    tables = ("cdp_meta", "cdp_routes", "cdp_delivered", "cdp_failures", "cdp_runs",
              "cdp_remembered_ids")  # fmt: skip
    everything = repr({t: rows(ledger_uri, t) for t in tables})
    assert "u5" in everything and "pending" in everything, "the test proves nothing"
    forms = [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(),
             PASSWORD, quote(PASSWORD, safe="")]  # fmt: skip
    for form in forms:
        assert form not in everything
    if ledger_uri.startswith("sqlite:///"):
        raw = open(ledger_uri.removeprefix("sqlite:///"), "rb").read()  # noqa: SIM115
        assert secret.encode() not in raw


def test_a_ledger_failing_mid_run_stops_with_one_line(sandbox, tmp_path, caplog, ledger_uri):
    creds = sandbox.credentials
    cfg = config(sandbox, tmp_path, ledger_uri)
    cfg["engagelab"] = {"base_url": sandbox.url, "api_key": creds.engagelab_api_key,
                        "api_secret": creds.engagelab_api_secret}  # fmt: skip
    cfg["mappings"] = [{"stream": "users", "destination": "engagelab", "type": "user"}]
    deliver(cfg, [USERS_SCHEMA, user(1)], tmp_path, caplog)
    # opening works; the euid memory, read while delivering, fails
    execute(ledger_uri, "DROP TABLE cdp_remembered_ids")
    messages = [USERS_SCHEMA, user(2), {"type": "STATE", "value": 2}]
    result = deliver(cfg, messages, tmp_path, caplog)
    assert result.exit_code == 1
    assert "Traceback" not in result.logs
    assert any("ledger_uri" in ln and "failed" in ln for ln in result.logs.splitlines())
    assert result.states == [], "no STATE for a record the ledger could not record"
    (pending,) = rows(ledger_uri, "cdp_failures")
    assert (pending["record_key"], pending["kind"]) == ("u2", "pending")


def test_a_ledger_failing_while_comparing_stops_with_one_line(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri)
    deliver(cfg, [USERS_SCHEMA, user(1)], tmp_path, caplog)
    # opening works (it reads which routes have rows); comparing reads the hashes: fails
    execute(ledger_uri, "ALTER TABLE cdp_delivered DROP COLUMN payload_hash")
    messages = [USERS_SCHEMA, user(1), user(2), {"type": "STATE", "value": 2}]
    result = deliver(cfg, messages, tmp_path, caplog)
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "failed" in line and "payload_hash" in line, line
    assert result.states == [], "no STATE for records the ledger could not compare"
    assert len(upserts(sandbox)) == 1


def test_a_ledger_failing_while_finding_deletes_stops_with_one_line(
    sandbox, tmp_path, caplog, ledger_uri
):
    cfg = config(sandbox, tmp_path, ledger_uri, route={"delete_missing": True},
                 dmartech={"primary_keys": ["user_id", "email"]})  # fmt: skip
    version = {"type": "ACTIVATE_VERSION", "stream": "users", "version": 1}
    assert (
        deliver(cfg, [USERS_SCHEMA, version, user(1, 1), version], tmp_path, caplog).exit_code == 0
    )
    # an empty version 2 reads nothing while delivering; finding what to delete fails
    execute(ledger_uri, "ALTER TABLE cdp_delivered DROP COLUMN delete_values")
    empty = {**version, "version": 2}
    result = deliver(cfg, [USERS_SCHEMA, empty, empty], tmp_path, caplog)
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "failed" in line and "delete_values" in line, line
    assert sandbox.received()["dmartech"].get("user_deletes", []) == []
