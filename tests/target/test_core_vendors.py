"""The generic core with the real vendor modules: one stream fanned out to all three."""

from __future__ import annotations

from core_fake import record, run, schema, state

from target_cdp.target import TargetCDP

PEOPLE = {
    "id": {"type": "string"},
    "email": {"type": "string"},
    "name": {"type": "object"},
}


def fan_out_config(sandbox, tmp_path, **extra):
    creds = sandbox.credentials
    return {
        "dmartech": {"api_url": sandbox.url, "secret": creds.dmartech_secret, "batch_size": 4},
        "engagelab": {
            "base_url": sandbox.url,
            "api_key": creds.engagelab_api_key,
            "api_secret": creds.engagelab_api_secret,
        },
        "nxcloud": {
            "base_url": sandbox.url,
            "access_key": creds.nxcloud_access_key,
            "access_secret": creds.nxcloud_access_secret,
            "tenant_id": creds.nxcloud_tenant_id,
            "app_key": creds.nxcloud_app_key,
        },
        "mappings": [
            {
                "stream": "people",
                "destination": "dmartech",
                "type": "user",
                "fields": {"user_id": "id", "email": "email"},
            },
            {
                "stream": "people",
                "destination": "engagelab",
                "type": "user",
                "identity_property": "id",
                "fields": {"id": "id", "email": "email"},
            },
            {
                "stream": "people",
                "destination": "nxcloud",
                "type": "customer",
                "fields": {"first_name": "name.first", "last_name": "name.last", "email": "email"},
            },
        ],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "dry_run_path": str(tmp_path / "dry.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "max_tries": 4,
        "max_retry_wait": 0.1,
        "progress_seconds": 0,
        **extra,
    }


def people(n):
    return [
        record({"id": f"u{i}", "email": f"u{i}@x.io", "name": {"first": "A", "last": f"L{i}"}})
        for i in range(n)
    ]


def test_one_stream_to_three_vendors(sandbox, tmp_path, caplog):
    msgs = [schema(props=PEOPLE), *people(10), state({"done": 10})]
    result = run(fan_out_config(sandbox, tmp_path), msgs, tmp_path, caplog, TargetCDP)
    assert result.exit_code == 0, result.logs
    assert result.states == [{"done": 10}]
    routes = result.summary["routes"]
    assert [r["delivered"] for r in routes] == [10, 10, 10]
    everything = result.stdout + result.logs
    for secret in sandbox.secrets():
        assert secret not in everything


def test_dry_run_with_real_vendors_redacts_every_secret(sandbox, tmp_path, caplog):
    msgs = [schema(props=PEOPLE), *people(5), state(1)]
    cfg = fan_out_config(sandbox, tmp_path, dry_run=True)
    result = run(cfg, msgs, tmp_path, caplog, TargetCDP)
    assert result.exit_code == 0, result.logs
    text = (tmp_path / "dry.jsonl").read_text()
    assert {"dmartech", "engagelab", "nxcloud"} <= {
        d for d in ("dmartech", "engagelab", "nxcloud") if f'"destination":"{d}"' in text
    }
    for secret in sandbox.secrets():
        assert secret not in text + result.logs + result.stdout
    assert sandbox.calls() == {} or sum(sandbox.calls().values()) == 0
