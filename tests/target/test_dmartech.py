"""Dmartech destination: mapping, conversion, batching, limits, classify, and real HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
import requests
from core_fake import record, run, schema, state

from target_cdp.routes import Route
from target_cdp.target import TargetCDP
from target_cdp.vendors import load_destinations
from target_cdp.vendors.base import Answer, Call, ConfigError, Destination, Outcome, RecordError
from target_cdp.vendors.dmartech import Dmartech, import_url

SETTINGS = {
    "api_url": "https://data-api.example",
    "secret": "s3cr&t",
    "primary_keys": ["mobile", "email"],
}
USER = Route("profiles", "dmartech", "user")
EVENT = Route(
    "events",
    "dmartech",
    "event",
    options={
        "event_name_property": "event_name",
        "event_id_property": "id",
        "create_time_property": "time_stamp",
    },
)


def post(dest: Destination, call: Call) -> Answer:
    """Sign, send and classify one call, as the core does (without retries)."""
    headers = {**call.headers, **dest.sign(call)}
    resp = requests.post(call.url, data=call.body, headers=headers, timeout=10)
    try:
        body: Any = resp.json()
    except ValueError:
        body = resp.text
    return dest.classify(resp.status_code, body, resp.headers)


def prepare(dest: Dmartech, route: Route, record: dict[str, Any]) -> Any:
    return dest.prepare(route, route.project(record), record)


def event(n: int, name: str = "order") -> dict[str, Any]:
    return {
        "id": f"e{n}",
        "event_name": name,
        "time_stamp": datetime(2024, 5, 1, 12, 0, n, tzinfo=timezone.utc),
        "mobile": f"1836666{n:04d}",
        "amount": Decimal("9.5"),
    }


class TestDmartech:
    # settings ------------------------------------------------------------------------
    def test_registry_and_schema(self) -> None:
        assert load_destinations()["dmartech"] is Dmartech
        schema = Dmartech.settings_schema.to_dict()
        assert schema["properties"]["secret"].get("secret") is True
        assert {"api_url", "batch_url", "primary_keys", "batch_size"} <= set(schema["properties"])

    @pytest.mark.parametrize("missing", ["api_url", "secret"])
    def test_required_settings(self, missing: str) -> None:
        settings = {k: v for k, v in SETTINGS.items() if k != missing}
        with pytest.raises(ConfigError, match=f"^dmartech.{missing} is required$"):
            Dmartech(settings)

    def test_urls(self) -> None:
        assert import_url("https://h.example", "a b") == (
            "https://h.example/api/v1/api/import?secret=a%20b"
        )
        assert import_url("https://h.example/custom/import?x=1", "s") == (
            "https://h.example/custom/import?x=1&secret=s"
        )
        dest = Dmartech({**SETTINGS, "batch_url": "https://batch.example/"})
        assert dest.url.startswith("https://data-api.example/api/v1/api/import?secret=")
        assert dest.batch_url.startswith("https://batch.example/api/v1/api/import?secret=")
        assert set(dest.secrets()) == {"s3cr&t", "s3cr%26t"}

    def test_check_route(self) -> None:
        dest = Dmartech(SETTINGS)
        dest.check_route(EVENT)
        with pytest.raises(ConfigError, match="event_name or event_name_property"):
            dest.check_route(Route("events", "dmartech", "event"))
        with pytest.raises(ConfigError, match="supports"):
            dest.check_route(Route("events", "dmartech", "customer"))

    # mapping and conversion ----------------------------------------------------------
    def test_fields_with_dotted_paths(self) -> None:
        route = Route(
            "profiles",
            "dmartech",
            "user",
            fields={"mobile": "identity.phone.0", "email": "trait.email", "age": "trait.age"},
        )
        record = {
            "identity": {"phone": ["0901"]},
            "trait": {"email": "a@b.c", "age": Decimal("31")},
            "other": 1,
        }
        item = prepare(Dmartech(SETTINGS), route, record)
        assert (item.type, item.properties) == (
            "user",
            {"mobile": "0901", "email": "a@b.c", "age": 31},
        )

    def test_passthrough_drops_metadata_and_nulls(self) -> None:
        record = {
            "mobile": "1",
            "name": None,
            "_sdc_extracted_at": "x",
            "seen": datetime(2024, 1, 2, 3, 4, 5),
        }
        item = prepare(Dmartech(SETTINGS), USER, record)
        assert item.properties == {"mobile": "1", "seen": "2024-01-02 03:04:05"}

    def test_deleted_record_becomes_user_delete(self) -> None:
        dest = Dmartech(SETTINGS)
        record = {
            "mobile": "1",
            "email": "e@x",
            "name": "n",
            "_sdc_deleted_at": "2024-01-01T00:00:00Z",
        }
        item = prepare(dest, USER, record)
        assert (item.type, item.properties) == ("user_delete", {"mobile": "1", "email": "e@x"})
        key = dest.batch_key(USER, item)
        assert dest.batch_size(USER, key) == 1
        assert json.loads(dest.build(USER, [item]).body)["type"] == "user_delete"

    def test_event_conversion(self) -> None:
        item = prepare(Dmartech(SETTINGS), EVENT, event(7))
        assert item.event == "order"
        assert item.properties == {
            "mobile": "18366660007",
            "amount": 9.5,
            "event_id": "e7",
            "create_time": "2024-05-01 12:00:07",
        }

    def test_fixed_event_name(self) -> None:
        route = Route("events", "dmartech", "event", options={"event_name": "signup"})
        record = {"event_id": 5, "create_time": "2024-05-01T01:02:03+07:00", "email": "x@y"}
        item = prepare(Dmartech(SETTINGS), route, record)
        assert item.event == "signup"
        assert item.properties == {
            "event_id": 5,
            "create_time": "2024-04-30 18:02:03",
            "email": "x@y",
        }

    # batching ------------------------------------------------------------------------
    def test_single_and_batch_bodies(self) -> None:
        dest = Dmartech({**SETTINGS, "batch_url": "https://batch.example"})
        users = [prepare(dest, USER, {"mobile": str(n)}) for n in range(3)]
        single = dest.build(USER, users[:1])
        assert json.loads(single.body) == {"type": "user", "properties": {"mobile": "0"}}
        assert single.url.startswith("https://data-api.example/") and single.label == "user"
        batch = dest.build(USER, users)
        assert json.loads(batch.body)["type"] == "user_batch"
        assert len(json.loads(batch.body)["properties"]) == 3
        assert batch.url.startswith("https://batch.example/")

    def test_events_batch_by_name(self) -> None:
        dest = Dmartech({**SETTINGS, "batch_size": 2})
        items = [prepare(dest, EVENT, event(n, "a" if n % 2 else "b")) for n in range(4)]
        keys = {dest.batch_key(EVENT, i) for i in items}
        assert keys == {("event", "a"), ("event", "b")}
        assert dest.batch_size(EVENT, ("event", "a")) == 2
        body = json.loads(dest.build(EVENT, [items[1], items[3]]).body)
        assert (body["type"], body["event"], len(body["properties"])) == ("event_batch", "a", 2)
        assert Dmartech(SETTINGS).batch_size(EVENT, ("event", "a")) == 500

    # limits --------------------------------------------------------------------------
    def test_no_primary_key_value(self) -> None:
        with pytest.raises(RecordError) as err:
            prepare(Dmartech(SETTINGS), USER, {"mobile": " ", "name": "x"})
        assert err.value.code == "missing_primary_key"
        assert err.value.message.startswith("mobile, email: none has a value")

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"id": None}, "id: required (event_id)"),
            ({"id": 1.5}, "id: required (event_id)"),
            ({"time_stamp": None}, "time_stamp: required (create_time)"),
            ({"time_stamp": "not a time"}, "time_stamp: 'not a time' is not a date-time"),
            ({"event_name": ""}, "event_name: no event name"),
            ({"mobile": None}, "mobile, email: none has a value"),
        ],
    )
    def test_event_limits(self, change: dict[str, Any], message: str) -> None:
        with pytest.raises(RecordError) as err:
            prepare(Dmartech(SETTINGS), EVENT, {**event(1), **change})
        assert err.value.message.startswith(message)

    # classify ------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("errcode", "outcome"),
        [
            (0, Outcome.OK),
            (10000, Outcome.RETRY),
            (10001, Outcome.REJECTED),
            (10002, Outcome.REJECTED),
            (10003, Outcome.CREDENTIALS),
            (10004, Outcome.REJECTED),
            (20000, Outcome.CREDENTIALS),
            (20001, Outcome.REJECTED),
            (20002, Outcome.REJECTED),
            (20003, Outcome.REJECTED),
            (20004, Outcome.CREDENTIALS),
            (99999, Outcome.REJECTED),
        ],
    )
    def test_classify_codes(self, errcode: int, outcome: Outcome) -> None:
        status = 200 if errcode == 0 else 404
        answer = Dmartech(SETTINGS).classify(status, {"errcode": errcode, "errmsg": "m"}, {})
        assert (answer.outcome, answer.code) == (outcome, str(errcode))
        if outcome is Outcome.CREDENTIALS:
            assert answer.setting == "dmartech.secret"

    @pytest.mark.parametrize(
        ("status", "outcome"),
        [
            (429, Outcome.RETRY),
            (502, Outcome.RETRY),
            (401, Outcome.CREDENTIALS),
            (403, Outcome.CREDENTIALS),
            (404, Outcome.WRONG_URL),
            (400, Outcome.REJECTED),
            (200, Outcome.RETRY),
        ],
    )
    def test_classify_http(self, status: int, outcome: Outcome) -> None:
        answer = Dmartech(SETTINGS).classify(status, "<html>", {"Retry-After": "2"})
        assert answer.outcome is outcome
        if status == 429:
            assert answer.retry_after == 2.0

    # real HTTP -----------------------------------------------------------------------
    def test_http_round_trips(self, sandbox: Any) -> None:
        dest = Dmartech(
            {
                "api_url": sandbox.url,
                "secret": sandbox.credentials.dmartech_secret,
                "primary_keys": ["mobile", "email", "user_id"],
            }
        )
        users = [prepare(dest, USER, {"mobile": f"0900{n}", "name": f"n{n}"}) for n in range(3)]
        assert post(dest, dest.build(USER, users[:1])).outcome is Outcome.OK
        assert post(dest, dest.build(USER, users)).outcome is Outcome.OK
        gone = prepare(dest, USER, {"mobile": "09000", "_sdc_deleted_at": "2024-01-01T00:00:00Z"})
        assert post(dest, dest.build(USER, [gone])).outcome is Outcome.OK
        events = [prepare(dest, EVENT, event(n)) for n in range(3)]
        assert post(dest, dest.build(EVENT, events)).outcome is Outcome.OK
        assert post(dest, dest.build(EVENT, events[:1])).outcome is Outcome.OK  # a repeat
        got = sandbox.received()["dmartech"]
        assert got["counts"] == {"users": 4, "user_deletes": 1, "events": 3, "duplicate_events": 1}
        assert got["events"][0] == {"event": "order", **events[0].properties}

    def test_http_errors(self, sandbox: Any) -> None:
        good = {"api_url": sandbox.url, "secret": sandbox.credentials.dmartech_secret}
        dest = Dmartech(good)
        bad_item = prepare(dest, USER, {"name": "no key"})  # no primary_keys set: not checked here
        refused = post(dest, dest.build(USER, [bad_item]))
        assert (refused.outcome, refused.code) == (Outcome.REJECTED, "20001")
        item = prepare(dest, USER, {"mobile": "1"})
        wrong = Dmartech({**good, "secret": "wrong-secret"})
        answer = post(wrong, wrong.build(USER, [item]))
        assert (answer.outcome, answer.setting) == (Outcome.CREDENTIALS, "dmartech.secret")
        lost = Dmartech({**good, "api_url": f"{sandbox.url}/nowhere"})
        assert post(lost, lost.build(USER, [item])).outcome is Outcome.WRONG_URL
        sandbox.set_faults(error_rate=1.0)
        assert post(dest, dest.build(USER, [item])).outcome is Outcome.RETRY
        sandbox.set_faults(rate_limit=0.5, retry_after=3)
        answer = post(dest, dest.build(USER, [item]))
        assert (answer.outcome, answer.retry_after) == (Outcome.RETRY, 3.0)
        sandbox.set_faults()
        assert post(dest, dest.build(USER, [item])).outcome is Outcome.OK

    # end to end: the target on Singer messages ---------------------------------------
    def test_target_end_to_end(self, sandbox: Any, tmp_path: Any, caplog: Any) -> None:
        people = {
            "id": {"type": "string"},
            "phone": {"type": ["string", "null"]},
            "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
        }
        orders = {
            "id": {"type": "string"},
            "phone": {"type": "string"},
            "kind": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "total": {"type": "number"},
        }
        cfg = e2e_config(sandbox, tmp_path)
        messages = [
            schema("people", ["id"], people),
            *[record({"id": f"p{n}", "phone": f"0900{n}"}, "people") for n in range(5)],
            record({"id": "p9", "phone": None}, "people"),  # no primary key: dead-lettered
            record({"id": "p1", "phone": "09001", "_sdc_deleted_at": NOW}, "people"),
            schema("orders", ["id"], orders),
            *[
                record(
                    {"id": f"o{n}", "phone": "09000", "kind": "ab"[n % 2], "at": NOW, "total": 1.5},
                    "orders",
                )
                for n in range(4)
            ],
            state({"bookmarks": {"orders": 4}}),
        ]
        result = run(cfg, messages, tmp_path, caplog, target_class=TargetCDP)
        assert result.exit_code == 1  # one record dead-lettered
        assert result.states == [{"bookmarks": {"orders": 4}}]
        assert [(d["record"]["id"], d["error"]["code"]) for d in result.dead] == [
            ("p9", "missing_primary_key")
        ]
        got = sandbox.received()["dmartech"]
        assert got["counts"] == {"users": 5, "user_deletes": 1, "events": 4, "duplicate_events": 0}
        assert got["user_deletes"] == [{"mobile": "09001"}]
        assert {e["event"] for e in got["events"]} == {"a", "b"}
        assert got["events"][0]["create_time"] == "2024-05-01 10:00:00"
        assert sandbox.credentials.dmartech_secret not in result.logs + result.stdout

    def test_target_stops_on_a_bad_secret(self, sandbox: Any, tmp_path: Any, caplog: Any) -> None:
        cfg = e2e_config(sandbox, tmp_path)
        cfg["dmartech"]["secret"] = "not-the-secret-value"
        messages = [
            schema("people", ["id"], {"id": {"type": "string"}, "phone": {"type": "string"}})
        ]
        messages += [record({"id": "p1", "phone": "1"}, "people"), state({"b": 1})]
        result = run(cfg, messages, tmp_path, caplog, target_class=TargetCDP)
        assert result.exit_code != 0 and result.states == []
        assert "dmartech.secret" in result.logs
        assert "not-the-secret-value" not in result.logs + result.stdout

    def test_a_redirect_stops_naming_the_url(
        self, sandbox: Any, tmp_path: Any, caplog: Any
    ) -> None:
        from cdp_sandbox.app import Response

        def moved(request: Any) -> Response:
            return Response(308, {"moved": True}, {"Location": "https://elsewhere.example/api"})

        sandbox.server.app.route("POST", "/moved", moved)
        cfg = e2e_config(sandbox, tmp_path)
        cfg["dmartech"]["api_url"] = f"{sandbox.url}/moved"
        messages = [
            schema("people", ["id"], {"id": {"type": "string"}, "phone": {"type": "string"}})
        ]
        messages += [record({"id": "p1", "phone": "1"}, "people"), state({"b": 1})]
        result = run(cfg, messages, tmp_path, caplog, target_class=TargetCDP)
        assert result.exit_code != 0 and result.states == []
        assert "HTTP 308 redirect to https://elsewhere.example/api" in result.logs
        assert "dmartech.api_url" in result.logs
        assert sandbox.credentials.dmartech_secret not in result.logs + result.stdout


NOW = "2024-05-01T10:00:00Z"


def e2e_config(sandbox: Any, tmp_path: Any) -> dict[str, Any]:
    """Target settings: people -> user (phone -> mobile), orders -> event by kind."""
    return {
        "dmartech": {
            "api_url": sandbox.url,
            "secret": sandbox.credentials.dmartech_secret,
            "primary_keys": ["mobile", "email"],
            "batch_size": 3,
        },
        "mappings": [
            {
                "stream": "people",
                "destination": "dmartech",
                "type": "user",
                "fields": {"user_id": "id", "mobile": "phone"},
            },
            {
                "stream": "orders",
                "destination": "dmartech",
                "type": "event",
                "event_name_property": "kind",
                "event_id_property": "id",
                "create_time_property": "at",
                "fields": {"mobile": "phone", "total": "total", "id": "id", "at": "at"},
            },
        ],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "max_tries": 3,
        "max_retry_wait": 0.2,
        "progress_seconds": 0,
    }
