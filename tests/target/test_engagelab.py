"""EngageLab destination: mapping, conversion, batching, limits, classify, and real HTTP."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest
import requests
from core_fake import record, run, schema

from target_cdp.routes import Route
from target_cdp.target import TargetCDP
from target_cdp.vendors import load_destinations
from target_cdp.vendors.base import (
    Answer,
    Call,
    ConfigError,
    Destination,
    Outcome,
    RecordError,
    Refused,
)
from target_cdp.vendors.engagelab import EngageLab, LabEvent, LabUser

SETTINGS = {"api_key": "key-1", "api_secret": "secret-2"}
USER = Route("profiles", "engagelab", "user")
EVENT = Route(
    "events",
    "engagelab",
    "event",
    options={
        "event_name_property": "event_name",
        "time_property": "time_stamp",
        "identity_property": "uid",
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


class Recorder:
    """A `Send` that posts for real (or answers `dry_run_reply`) and keeps every call."""

    def __init__(self, dest: Destination, dry_run: bool = False) -> None:
        self.dest, self.dry_run, self.calls = dest, dry_run, []

    def __call__(self, call: Call) -> Answer:
        self.calls.append(call)
        if self.dry_run:
            return Answer(Outcome.OK, data=call.dry_run_reply)
        answer = post(self.dest, call)
        assert answer.outcome in (Outcome.OK, Outcome.REJECTED), answer
        return answer

    @property
    def labels(self) -> list[str]:
        return [call.label for call in self.calls]


def prepare(dest: EngageLab, route: Route, record: dict[str, Any]) -> Any:
    return dest.prepare(route, route.project(record), record)


def event(n: int, uid: str = "u1") -> dict[str, Any]:
    return {
        "id": f"ev-{n}",
        "uid": uid,
        "event_name": "purchase",
        "time_stamp": "2024-05-01T12:00:00.250Z",
        "price": n,
    }


def live(sandbox: Any, **extra: Any) -> EngageLab:
    creds = sandbox.credentials
    return EngageLab(
        {
            "base_url": sandbox.url,
            "api_key": creds.engagelab_api_key,
            "api_secret": creds.engagelab_api_secret,
            **extra,
        }
    )


class TestEngageLab:
    # settings ------------------------------------------------------------------------
    def test_registry_schema_and_secrets(self) -> None:
        assert load_destinations()["engagelab"] is EngageLab
        props = EngageLab.settings_schema.to_dict()["properties"]
        assert props["api_secret"].get("secret") is True
        assert props["base_url"]["default"] == "https://ma-api.engagelab.com"
        dest = EngageLab(SETTINGS)
        token = base64.b64encode(b"key-1:secret-2").decode()
        assert {"key-1", "secret-2", token} <= set(dest.secrets())
        call = dest.build(USER, [LabUser("u1")])
        assert call.headers["Authorization"] == f"Basic {token}"
        assert call.sensitive_headers == {"Authorization"}

    @pytest.mark.parametrize("missing", ["api_key", "api_secret"])
    def test_required_settings(self, missing: str) -> None:
        with pytest.raises(ConfigError, match=f"^engagelab.{missing} is required$"):
            EngageLab({k: v for k, v in SETTINGS.items() if k != missing})
        with pytest.raises(ConfigError, match="identity_name"):
            EngageLab({**SETTINGS, "identity_name": "email"})

    def test_check_route(self) -> None:
        dest = EngageLab(SETTINGS)
        dest.check_route(EVENT)
        with pytest.raises(ConfigError, match="event_name or event_name_property"):
            dest.check_route(Route("events", "engagelab", "event"))
        with pytest.raises(ConfigError, match="supports"):
            dest.check_route(Route("events", "engagelab", "user_delete"))

    # mapping and conversion ----------------------------------------------------------
    def test_user_split_into_contacts_and_properties(self) -> None:
        route = Route(
            "profiles",
            "engagelab",
            "user",
            fields={
                "mobile_phone": "trait.phone",
                "email": "trait.email",
                "tier": "trait.tier",
                "joined": "trait.joined",
                "nickname": "trait.nickname",
            },
            options={"identity_property": "identity.user_id"},
        )
        record = {
            "identity": {"user_id": ["", "u-9", "u-10"]},
            "trait": {
                "phone": 84901234567,
                "email": "a@b.c",
                "tier": "gold",
                "joined": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                "nickname": "",
            },
        }
        item = prepare(EngageLab(SETTINGS), route, record)
        assert item == LabUser(
            "u-9",
            {"mobile_phone": "84901234567", "email": "a@b.c"},
            {"tier": "gold", "joined": "2024-01-02 03:04:05"},
        )

    def test_passthrough_user_drops_identity_and_metadata(self) -> None:
        record = {"user_id": 42, "city": "Hanoi", "_sdc_deleted_at": None, "empty": None}
        item = prepare(EngageLab(SETTINGS), USER, record)
        assert item == LabUser("42", {}, {"city": "Hanoi"})

    def test_event_conversion(self) -> None:
        item = prepare(EngageLab(SETTINGS), EVENT, event(3))
        assert item == LabEvent(
            "u1",
            {
                "event_name": "purchase",
                "itime": 1714564800250,
                "random_id": "ev-3",
                "properties": {"price": 3},
            },
        )

    # batching ------------------------------------------------------------------------
    def test_batch_sizes(self) -> None:
        dest = EngageLab({**SETTINGS, "batch_size": 300})
        assert dest.batch_size(USER, dest.batch_key(USER, LabUser("u"))) == 100
        assert dest.batch_size(EVENT, "event") == 300
        assert EngageLab(SETTINGS).batch_size(EVENT, "event") == 100

    # limits --------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"uid": None}, "uid: empty; engagelab needs it for the euid"),
            ({"uid": "x" * 257}, "uid: 257 characters, engagelab allows 256"),
            ({"time_stamp": None}, "time_stamp: required (itime)"),
            ({"time_stamp": "noon"}, "time_stamp: 'noon' is not a date-time"),
            ({"event_name": None}, "event_name: no event name"),
        ],
    )
    def test_limits(self, change: dict[str, Any], message: str) -> None:
        with pytest.raises(RecordError) as err:
            prepare(EngageLab(SETTINGS), EVENT, {**event(1), **change})
        assert err.value.message == message

    # classify ------------------------------------------------------------------------
    @pytest.mark.parametrize(
        ("code", "outcome"),
        [
            (0, Outcome.OK),
            (-1, Outcome.RETRY),
            (40050, Outcome.CREDENTIALS),
            (50031, Outcome.CREDENTIALS),
            (50034, Outcome.CREDENTIALS),
            (50074, Outcome.CREDENTIALS),
            *[
                (c, Outcome.REJECTED)
                for c in (40007, 55004, 55101, 55102, 55103, 55105, 55106, 55107, 55108, 12345)
            ],
        ],
    )
    def test_classify_codes(self, code: int, outcome: Outcome) -> None:
        status = 401 if code == 40050 else 200
        answer = EngageLab(SETTINGS).classify(status, {"code": code, "message": "m"}, {})
        assert (answer.outcome, answer.code) == (outcome, str(code))
        if outcome is Outcome.CREDENTIALS:
            assert answer.setting == "engagelab.api_key, engagelab.api_secret"

    @pytest.mark.parametrize(
        ("status", "outcome"),
        [
            (429, Outcome.RETRY),
            (503, Outcome.RETRY),
            (401, Outcome.CREDENTIALS),
            (403, Outcome.CREDENTIALS),
            (400, Outcome.REJECTED),
        ],
    )
    def test_classify_http(self, status: int, outcome: Outcome) -> None:
        answer = EngageLab(SETTINGS).classify(status, None, {"Retry-After": "1"})
        assert answer.outcome is outcome

    # real HTTP -----------------------------------------------------------------------
    def test_deliver_users(self, sandbox: Any) -> None:
        dest = live(sandbox)
        records = [
            {"user_id": "u1", "email": "u1@x.io", "tier": "gold"},
            {"user_id": "u2", "tier": "silver", "bad-name": 1},  # refused: property name
            {"user_id": "u1", "score": 5},  # same user again, same euid
        ]
        send = Recorder(dest)
        rejections = dest.deliver(USER, [prepare(dest, USER, r) for r in records], send)
        assert [(i, a.code) for i, a in rejections] == [(1, "55102")]
        assert send.labels == ["register", "contact", "property", "property", "property"]
        got = sandbox.received()["engagelab"]
        euid = str(got["identities"]["user_id:u1"])
        assert got["contacts"][euid] == {"email": "u1@x.io"}
        assert got["properties"][euid] == {"tier": "gold", "score": 5}

    def test_deliver_events(self, sandbox: Any) -> None:
        dest = live(sandbox)
        items = [prepare(dest, EVENT, event(n, uid=f"u{n % 2}")) for n in range(4)]
        send = Recorder(dest)
        assert dest.deliver(EVENT, items, send) == []
        assert send.labels == ["register", "event_report"]
        got = sandbox.received()["engagelab"]
        assert got["counts"]["events"] == 4
        assert {e["random_id"] for e in got["events"]} == {"ev-0", "ev-1", "ev-2", "ev-3"}
        assert all(e["itime"] == 1714564800250 for e in got["events"])
        bad = prepare(dest, EVENT, {**event(9), "bad-name": 1})
        with pytest.raises(Refused) as err:
            dest.deliver(EVENT, [items[0], bad], Recorder(dest))
        assert err.value.answer.code == "55102"

    def test_register_refused_and_dry_run(self, sandbox: Any) -> None:
        dest = live(sandbox)
        with pytest.raises(Refused):  # an identity the vendor refuses (bypassing prepare)
            dest.deliver(USER, [LabUser(" ", {}, {"a": 1})], Recorder(dest))
        dry = Recorder(dest, dry_run=True)
        items = [prepare(dest, USER, {"user_id": "d1", "email": "d@x", "a": 1})]
        assert dest.deliver(USER, items, dry) == []
        assert dry.labels == ["register", "contact", "property"]
        assert json.loads(dry.calls[-1].body)["euid"] == 1
        assert sandbox.calls().get("engagelab:contact") is None

    def test_http_errors(self, sandbox: Any) -> None:
        call = live(sandbox).build(USER, [LabUser("u1")])
        wrong = live(sandbox, api_secret="wrong")
        answer = post(wrong, wrong.build(USER, [LabUser("u1")]))
        assert (answer.outcome, answer.code) == (Outcome.CREDENTIALS, "40050")
        dest = live(sandbox)
        sandbox.set_faults(error_rate=1.0)
        assert post(dest, call).outcome is Outcome.RETRY
        sandbox.set_faults(rate_limit=0.5, retry_after=2)
        assert post(dest, call).retry_after == 2.0
        sandbox.set_faults()
        assert post(dest, call).outcome is Outcome.OK

    # end to end: the target on Singer messages ---------------------------------------
    def test_target_end_to_end(self, sandbox: Any, tmp_path: Any, caplog: Any) -> None:
        result = run(e2e_config(sandbox, tmp_path), MESSAGES, tmp_path, caplog, TargetCDP)
        assert result.exit_code == 1  # the user without an id is dead-lettered
        assert result.states == [{"bookmarks": {"events": 3}}]
        assert [(d["record"]["uid"], d["error"]["code"]) for d in result.dead] == [
            (None, "missing_identity")
        ]
        got = sandbox.received()["engagelab"]
        assert got["counts"]["identities"] == 3 and got["counts"]["events"] == 3
        euid = str(got["identities"]["user_id:u1"])
        assert got["contacts"][euid] == {"email": "u1@x.io", "mobile_phone": "84900000001"}
        assert got["properties"][euid] == {"plan": "pro", "since": "2024-05-01 10:00:00"}
        assert {e["random_id"] for e in got["events"]} == {"e0", "e1", "e2"}
        token = base64.b64encode(b"sandbox-engagelab-key:sandbox-engagelab-secret").decode()
        for secret in (*sandbox.secrets(), token):
            assert secret not in result.logs + result.stdout

    def test_target_dry_run(self, sandbox: Any, tmp_path: Any, caplog: Any) -> None:
        cfg = {**e2e_config(sandbox, tmp_path), "dry_run": True}
        cfg["dry_run_path"] = str(tmp_path / "dry.jsonl")
        result = run(cfg, MESSAGES, tmp_path, caplog, TargetCDP)
        text = (tmp_path / "dry.jsonl").read_text()
        lines = [json.loads(line) for line in text.splitlines()]
        labels = [line["label"] for line in lines]
        assert labels.count("contact") == 2 and labels.count("property") == 1  # u2: no props
        assert labels[0] == "register"  # batches spread over lanes: each starts with a lookup
        reports = [line["body"]["data"] for line in lines if line["label"] == "event_report"]
        assert sorted(e["random_id"] for data in reports for e in data) == ["e0", "e1", "e2"]
        assert all(line["headers"]["Authorization"] == "[REDACTED]" for line in lines)
        assert sandbox.calls() == {}  # nothing sent
        assert result.states == [{"bookmarks": {"events": 3}}]
        for secret in sandbox.secrets():
            assert secret not in text


def e2e_config(sandbox: Any, tmp_path: Any) -> dict[str, Any]:
    creds = sandbox.credentials
    return {
        "engagelab": {
            "base_url": sandbox.url,
            "api_key": creds.engagelab_api_key,
            "api_secret": creds.engagelab_api_secret,
        },
        "mappings": [
            {
                "stream": "users",
                "destination": "engagelab",
                "type": "user",
                "identity_property": "uid",
            },
            {
                "stream": "events",
                "destination": "engagelab",
                "type": "event",
                "identity_property": "uid",
                "event_name": "page_view",
                "time_property": "at",
                "event_id_property": "id",
            },
        ],
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "summary_path": str(tmp_path / "summary.json"),
        "max_tries": 3,
        "max_retry_wait": 0.2,
        "progress_seconds": 0,
    }


_USERS = {
    "uid": {"type": ["string", "null"]},
    "email": {"type": ["string", "null"]},
    "mobile_phone": {"type": ["integer", "null"]},
    "plan": {"type": ["string", "null"]},
    "since": {"type": ["string", "null"], "format": "date-time"},
}
_EVENTS = {
    "id": {"type": "string"},
    "uid": {"type": "string"},
    "at": {"type": "string", "format": "date-time"},
    "url": {"type": "string"},
}
MESSAGES = [
    schema("users", [], _USERS),
    record(
        {
            "uid": "u1",
            "email": "u1@x.io",
            "mobile_phone": 84900000001,
            "plan": "pro",
            "since": "2024-05-01T17:00:00+07:00",
        },
        "users",
    ),
    record({"uid": "u2", "email": "u2@x.io", "plan": None}, "users"),
    record({"uid": None, "email": "nobody@x.io"}, "users"),
    schema("events", ["id"], _EVENTS),
    *[
        record({"id": f"e{n}", "uid": f"u{n}", "at": "2024-05-01T10:00:00Z", "url": "/"}, "events")
        for n in range(3)
    ],
    {"type": "STATE", "value": {"bookmarks": {"events": 3}}},
]
