"""NXCloud destination: mapping, conversion, batching, limits, classify, and real HTTP."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests
from core_fake import record, run, schema, state

from target_cdp.routes import Route
from target_cdp.target import TargetCDP
from target_cdp.vendors import load_destinations
from target_cdp.vendors.base import Answer, Call, ConfigError, Destination, Outcome, RecordError
from target_cdp.vendors.nxcloud import NXCloud
from target_cdp.vendors.signing import nxcloud_sign

SETTINGS = {"access_key": "ak-1", "access_secret": "as-2", "tenant_id": "144", "app_key": "app"}
CUSTOMER = Route("profiles", "nxcloud", "customer")


def post(dest: Destination, call: Call) -> Answer:
    """Sign, send and classify one call, as the core does (without retries)."""
    headers = {**call.headers, **dest.sign(call)}
    resp = requests.post(call.url, data=call.body, headers=headers, timeout=10)
    try:
        body: Any = resp.json()
    except ValueError:
        body = resp.text
    return dest.classify(resp.status_code, body, resp.headers)


def prepare(dest: NXCloud, record: dict[str, Any], route: Route = CUSTOMER) -> Any:
    return dest.prepare(route, route.project(record), record)


def live(sandbox: Any, **extra: Any) -> NXCloud:
    creds = sandbox.credentials
    return NXCloud(
        {
            "base_url": sandbox.url,
            "access_key": creds.nxcloud_access_key,
            "access_secret": creds.nxcloud_access_secret,
            "tenant_id": creds.nxcloud_tenant_id,
            "app_key": creds.nxcloud_app_key,
            **extra,
        }
    )


NAMES = {"first_name": "Zhang", "last_name": "San"}


class TestNXCloud:
    # settings ------------------------------------------------------------------------
    def test_registry_schema_and_url(self) -> None:
        assert load_destinations()["nxcloud"] is NXCloud
        props = NXCloud.settings_schema.to_dict()["properties"]
        assert props["access_secret"].get("secret") is True
        assert props["merge_type"]["default"] == 1
        dest = NXCloud(SETTINGS)
        assert dest.url == "https://api-hk.nxlink.ai/saas/sea/cdp/openapi/customers/batch_create"
        assert (dest.tenant_id, dest.merge_type, dest.size) == (144, 1, 100)
        assert set(dest.secrets()) == {"ak-1", "as-2"}

    @pytest.mark.parametrize("missing", ["access_key", "access_secret", "tenant_id", "app_key"])
    def test_required_settings(self, missing: str) -> None:
        with pytest.raises(ConfigError, match=f"^nxcloud.{missing} is required$"):
            NXCloud({k: v for k, v in SETTINGS.items() if k != missing})

    @pytest.mark.parametrize(
        "bad", [{"merge_type": 3}, {"batch_size": 101}, {"tenant_id": "x"}, {"api_version": 9}]
    )
    def test_bad_settings(self, bad: dict[str, Any]) -> None:
        with pytest.raises(ConfigError, match=f"nxcloud.{next(iter(bad))}"):
            NXCloud({**SETTINGS, **bad})

    # mapping and conversion ----------------------------------------------------------
    def test_fields_and_conversions(self) -> None:
        route = Route(
            "profiles",
            "nxcloud",
            "customer",
            fields={
                "first_name": "trait.first",
                "last_name": "trait.last",
                "sms_phone": "identity.phone.0",
                "birthday": "trait.born",
                "gender": "trait.sex",
                "tagStr": "trait.tags",
                "loyalty": "trait.tier",
                "customize_field": "trait.custom",
            },
        )
        record = {
            "identity": {"phone": [Decimal("18163725558")]},
            "trait": {
                "first": "牛",
                "last": "小信",
                "born": "1976-04-12T00:00:00+08:00",
                "sex": "Female",
                "tags": ["vip", "99"],
                "tier": "gold",
                "custom": {"customize_1_14": "aa"},
            },
        }
        customer = prepare(NXCloud(SETTINGS), record, route)
        assert customer == {
            "first_name": "牛",
            "last_name": "小信",
            "sms_phone": "18163725558",
            "birthday": "1976-04-12",
            "gender": 0,
            "tagStr": "vip,99",
            "customize_field": '{"loyalty":"gold","customize_1_14":"aa"}',
        }

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(1, 1), (0, 0), ("1", 1), ("M", 1), ("male", 1), ("f", 0), (Decimal("0"), 0)],
    )
    def test_gender(self, value: Any, expected: int) -> None:
        assert prepare(NXCloud(SETTINGS), {**NAMES, "gender": value})["gender"] == expected

    def test_extra_fields_drop_and_customize_string(self) -> None:
        dest = NXCloud({**SETTINGS, "extra_fields": "drop"})
        assert prepare(dest, {**NAMES, "profile_id": "p1", "_sdc_batched_at": 1}) == NAMES
        record = {**NAMES, "customize_field": '{"a": 1}', "b": date(2024, 1, 2)}
        custom = prepare(NXCloud(SETTINGS), record)["customize_field"]
        assert json.loads(custom) == {"a": 1, "b": "2024-01-02"}

    def test_full_name_version(self) -> None:
        dest = NXCloud({**SETTINGS, "api_version": 2})
        assert prepare(dest, {"full_name": "Li Si"})["full_name"] == "Li Si"
        assert prepare(dest, NAMES)["full_name"] == "Zhang San"
        with pytest.raises(RecordError, match=r"^full_name: required by nxcloud$"):
            prepare(dest, {"email": "a@b.c"})

    # batching ------------------------------------------------------------------------
    def test_body_and_batch_size(self) -> None:
        dest = NXCloud({**SETTINGS, "merge_type": 0, "batch_size": 50})
        assert dest.batch_size(CUSTOMER, dest.batch_key(CUSTOMER, NAMES)) == 50
        call = dest.build(CUSTOMER, [NAMES, NAMES])
        assert call.body == (
            b'{"type":0,"tenant_id":144,"app_key":"app","customers":'
            b'[{"first_name":"Zhang","last_name":"San"},{"first_name":"Zhang","last_name":"San"}]}'
        )
        first, second = dest.sign(call), dest.sign(call)
        assert first.keys() == {"accessKey", "action", "bizType", "ts", "sign"}
        assert int(second["ts"]) >= int(first["ts"])

    # limits --------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"email": "e" * 51}, "email: 51 characters, nxcloud allows 50"),
            ({"sms_phone": "1" * 31}, "sms_phone: 31 characters, nxcloud allows 30"),
            ({"first_name": "x" * 129}, "first_name: 129 characters, nxcloud allows 128"),
            ({"address": "a" * 101}, "address: 101 characters, nxcloud allows 100"),
            ({"last_name": None}, "last_name: required by nxcloud"),
            ({"first_name": "  "}, "first_name: required by nxcloud"),
            ({"birthday": "12/04/1976"}, "birthday: '12/04/1976' is not a date"),
            ({"gender": "other"}, "gender: 'other' is not male/female"),
            ({"customize_field": "[1]"}, "customize_field: must be a JSON object"),
        ],
    )
    def test_limits(self, change: dict[str, Any], message: str) -> None:
        with pytest.raises(RecordError) as err:
            prepare(NXCloud(SETTINGS), {**NAMES, **change})
        assert err.value.message == message

    # classify ------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("code", "outcome", "setting"),
        [
            (0, Outcome.OK, None),
            (1001, Outcome.REJECTED, None),
            (1002, Outcome.REJECTED, None),
            (1003, Outcome.CREDENTIALS, "nxcloud.access_key, nxcloud.access_secret"),
            (1004, Outcome.RETRY, None),
            (1005, Outcome.CREDENTIALS, "nxcloud.tenant_id, nxcloud.app_key, nxcloud.access_key"),
            (7777, Outcome.REJECTED, None),
        ],
    )
    def test_classify_codes(self, code: int, outcome: Outcome, setting: str | None) -> None:
        answer = NXCloud(SETTINGS).classify(200, {"code": code, "message": "m"}, {})
        assert (answer.outcome, answer.code, answer.setting) == (outcome, str(code), setting)

    @pytest.mark.parametrize(
        ("status", "outcome"),
        [
            (429, Outcome.RETRY),
            (500, Outcome.RETRY),
            (401, Outcome.CREDENTIALS),
            (403, Outcome.CREDENTIALS),
        ],
    )
    def test_classify_http(self, status: int, outcome: Outcome) -> None:
        assert NXCloud(SETTINGS).classify(status, "", {}).outcome is outcome

    # real HTTP -----------------------------------------------------------------------
    def test_http_success(self, sandbox: Any) -> None:
        dest = live(sandbox)
        when = datetime(2024, 1, 2, tzinfo=timezone.utc)
        records = [
            {**NAMES, "email": f"c{n}@x.io", "birthday": when, "gender": n % 2, "note": "牛"}
            for n in range(3)
        ]
        call = dest.build(CUSTOMER, [prepare(dest, r) for r in records])
        assert post(dest, call).outcome is Outcome.OK
        assert post(dest, call).outcome is Outcome.OK  # re-signed: a second attempt works
        got = sandbox.received()["nxcloud"]
        assert got["counts"]["customers"] == 6
        assert got["customers"][0]["customize_field"] == '{"note":"牛"}'
        assert got["customers"][0]["birthday"] == "2024-01-02"

    def test_http_errors(self, sandbox: Any) -> None:
        dest = live(sandbox)
        call = dest.build(CUSTOMER, [NAMES])
        bad = dest.build(CUSTOMER, [{"first_name": "x"}])  # bypassing prepare
        assert (post(dest, bad).outcome, post(dest, bad).code) == (Outcome.REJECTED, "1001")
        wrong = live(sandbox, access_secret="wrong")
        assert post(wrong, call).code == "1003"
        other = live(sandbox, tenant_id=1)
        answer = post(other, other.build(CUSTOMER, [NAMES]))
        assert (answer.outcome, answer.code) == (Outcome.CREDENTIALS, "1005")
        late = dest.sign(call) | {"ts": "1655710885431"}  # an expired timestamp: 1004
        late["sign"] = nxcloud_sign(
            {k: late[k] for k in ("accessKey", "action", "bizType", "ts")},
            call.body,
            sandbox.credentials.nxcloud_access_secret,
        )
        resp = requests.post(call.url, data=call.body, headers={**call.headers, **late}, timeout=10)
        assert dest.classify(resp.status_code, resp.json(), resp.headers).outcome is Outcome.RETRY
        sandbox.set_faults(error_rate=1.0)
        assert post(dest, call).outcome is Outcome.RETRY
        sandbox.set_faults()
        assert post(dest, call).outcome is Outcome.OK

    # end to end: the target on Singer messages ---------------------------------------
    def test_target_end_to_end(self, sandbox: Any, tmp_path: Any, caplog: Any) -> None:
        sandbox.set_faults(error_rate=0.3, seed=3)  # transient 5xx: retried, re-signed
        people = {
            "id": {"type": "string"},
            "name": {"type": "object"},
            "email": {"type": "string"},
            "born": {"type": "string", "format": "date"},
            "sex": {"type": "string"},
            "tier": {"type": "string"},
        }
        rows = [
            {
                "id": f"p{n}",
                "name": {"first": "Zhang", "last": f"San{n}"},
                "email": f"p{n}@x.io",
                "born": "1990-04-12",
                "sex": "mf"[n % 2],
                "tier": "gold",
            }
            for n in range(6)
        ]
        rows[4]["email"] = "x" * 45 + "@x.io"  # 50 characters: fine
        rows[5]["email"] = "x" * 46 + "@x.io"  # 51: dead-lettered
        messages = [schema("people", ["id"], people), *[record(r, "people") for r in rows]]
        result = run(
            e2e_config(sandbox, tmp_path), [*messages, state({"n": 6})], tmp_path, caplog, TargetCDP
        )
        assert result.exit_code == 1 and result.states == [{"n": 6}]
        assert [(d["record"]["id"], d["error"]["message"]) for d in result.dead] == [
            ("p5", "email: 51 characters, nxcloud allows 50")
        ]
        totals = result.summary["totals"]
        assert (totals["delivered"], totals["rejected"]) == (5, 1)
        assert totals["retries"] > 0  # the injected 5xx were retried
        customers = sandbox.received()["nxcloud"]["customers"]
        assert sorted(c["last_name"] for c in customers) == [f"San{n}" for n in range(5)]
        first = next(c for c in customers if c["last_name"] == "San0")
        assert first == {
            "type": 2,
            "first_name": "Zhang",
            "last_name": "San0",
            "email": "p0@x.io",
            "birthday": "1990-04-12",
            "gender": 1,
            "customize_field": '{"tier":"gold"}',
        }
        for secret in sandbox.secrets():
            assert secret not in result.logs + result.stdout


def e2e_config(sandbox: Any, tmp_path: Any) -> dict[str, Any]:
    creds = sandbox.credentials
    fields = {
        "first_name": "name.first",
        "last_name": "name.last",
        "email": "email",
        "birthday": "born",
        "gender": "sex",
        "tier": "tier",
    }
    return {
        "nxcloud": {
            "base_url": sandbox.url,
            "access_key": creds.nxcloud_access_key,
            "access_secret": creds.nxcloud_access_secret,
            "tenant_id": creds.nxcloud_tenant_id,
            "app_key": creds.nxcloud_app_key,
            "merge_type": 2,
            "batch_size": 2,
        },
        "mappings": [
            {"stream": "people", "destination": "nxcloud", "type": "customer", "fields": fields}
        ],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "max_tries": 8,
        "max_retry_wait": 0.2,
        "progress_seconds": 0,
    }
