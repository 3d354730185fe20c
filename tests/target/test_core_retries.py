"""Transient failures are retried with backoff; credential failures stop the run at once."""

from __future__ import annotations

from core_fake import config, install_fake, record, run, schema, state


def test_transient_errors_are_retried(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    sandbox.set_faults(error_rate=0.3, drop_rate=0.1, seed=11)
    cfg = config(sandbox, tmp_path, max_tries=10, max_retry_wait=0.02, max_concurrency=1)
    msgs = [schema(), *[record({"id": i}) for i in range(30)], state("end")]
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert sorted(i["id"] for i in vendor.items) == list(range(30))
    [route] = result.summary["routes"]
    assert route["retries"] > 0 and route["requests"] == route["retries"] + 10
    assert result.states == ["end"]


def test_rate_limit_honours_retry_after(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    sandbox.set_faults(rate_limit=3, retry_after=1)
    cfg = config(sandbox, tmp_path, max_concurrency=1, max_retry_wait=2)
    cfg["fake"]["batch_size"] = 1
    msgs = [schema(), *[record({"id": i}) for i in range(5)]]
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 0, result.logs
    assert sorted(i["id"] for i in vendor.items) == list(range(5))
    assert result.summary["routes"][0]["retries"] >= 1


def test_credentials_stop_with_one_line(sandbox, tmp_path, caplog):
    vendor = install_fake(sandbox)
    cfg = config(sandbox, tmp_path, max_concurrency=1)
    cfg["fake"]["token"] = "wrong-token-value"
    msgs = [schema(), *[record({"id": i}) for i in range(50)], state("end")]
    result = run(cfg, msgs, tmp_path, caplog)
    assert result.exit_code == 1
    assert vendor.items == [] and vendor.requests == 1
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert errors[0].getMessage() == (
        "fake refused the credentials (401 bad token): check the setting `fake.token`"
    )
    assert "Traceback" not in result.logs and "wrong-token-value" not in result.logs
    assert result.dead == []  # nothing is dead-lettered for a stopped run
    assert "[stopped]" in result.logs.strip().splitlines()[-1]
