"""The PrimeData emulator over real HTTP: auth, errors, filters, paging, workspace, overlay."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
import requests

from cdp_sandbox.config import SandboxConfig, Workspace
from cdp_sandbox.server import start_in_thread
from cdp_sandbox.timeformat import parse_datetime, parse_ts

PROFILES, EVENTS = "/pub/profiles/advanced-search", "/pub/events/advanced-search"
AUTH = {
    "error": {
        "code": "authentication_error",
        "message": "Failure to properly authenticate yourself in the request.",
    }
}
NOT_FOUND = {"error": {"code": "not_found", "message": "The requested resource doesn't exist."}}
NO_LOOKUP = {
    "error": {
        "code": "invalid_request_error",
        "message": "Invalid request: identities or profile_id is required.",
    }
}
BAD_CURSOR = {
    "error": {
        "code": "invalid_request_error",
        "message": "Invalid cursor: it does not belong to this query.",
    }
}


def call(sandbox, path: str, body: object, key: str | None = "", raw: bytes | None = None):
    """POST to the sandbox; `key` "" means the right api key, None means no header."""
    headers = {} if key is None else {"x-api-key": key or sandbox.credentials.primedata_api_key}
    if raw is not None:
        return requests.post(sandbox.url + path, data=raw, headers=headers, timeout=10)
    return requests.post(sandbox.url + path, json=body, headers=headers, timeout=10)


def listing(sandbox, limit: int = 100, offset: int = 0) -> list[dict]:
    url = f"{sandbox.url}/_sandbox/primedata/profiles?limit={limit}&offset={offset}"
    return requests.get(url, timeout=10).json()["profiles"]


def all_pages(sandbox, body: dict) -> list[dict]:
    """Every event of a query, following `cursor.next`."""
    events, cursor, pages = [], None, 0
    while True:
        page = call(sandbox, EVENTS, {**body, **({"cursor": cursor} if cursor else {})}).json()
        events += page["data"]
        pages += 1
        assert pages < 100
        if not page["cursor"]["has_more"]:
            assert "next" not in page["cursor"]
            return events
        cursor = page["cursor"]["next"]


def ts(event: dict) -> float:
    return parse_ts(event["time_stamp"])


# auth and request errors ----------------------------------------------------------------
@pytest.mark.parametrize("path", [PROFILES, EVENTS])
@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_bad_api_key_is_401(sandbox, path, key):
    response = call(sandbox, path, {"identities": {"email": ["user0@example.com"]}}, key=key)
    assert (response.status_code, response.json()) == (401, AUTH)
    assert sandbox.credentials.primedata_api_key not in response.text


@pytest.mark.parametrize("path", [PROFILES, EVENTS])
def test_request_errors_are_400(sandbox, path):
    bad_json = call(sandbox, path, None, raw=b'{"identities":')
    assert (bad_json.status_code, bad_json.json()["error"]["code"]) == (
        400,
        "invalid_request_error",
    )
    for body in ({}, {"identities": {"email": []}}, {"profile_id": None}):
        response = call(sandbox, path, body)
        assert (response.status_code, response.json()) == (400, NO_LOOKUP)
    for body in ([1], {"identities": "user0@example.com"}, {"profile_id": 12}):
        response = call(sandbox, path, body)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_request_error"


@pytest.mark.parametrize("path", [PROFILES, EVENTS])
def test_unknown_identity_is_validation_error(sandbox, path):
    response = call(sandbox, path, {"identities": {"phone_numdber": ["0123456789"]}})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": "Invalid Identities {phone_numdber=[0123456789]}",
        }
    }


@pytest.mark.parametrize("path", [PROFILES, EVENTS])
def test_no_match_is_404(sandbox, path):
    for body in (
        {"identities": {"email": ["nobody@example.com"], "phone_number": ["0900000000"]}},
        {"identities": {"email": ["user20@example.com"]}},  # one past the last profile
        {"profile_id": "2YhQlO5kmTIRCu22QrO9BmgwbIy"},
    ):
        response = call(sandbox, path, body)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": 0}, "Invalid limit 0: expected 1..100"),
        ({"limit": 101}, "Invalid limit 101: expected 1..100"),
        ({"limit": "10"}, "Invalid limit 10: expected 1..100"),
        ({"sort": "up"}, "Invalid sort up: expected asc or desc"),
        ({"start": "yesterday"}, "Invalid start yesterday: expected an ISO 8601 date or date-time"),
        ({"include": ["Nope"]}, "Invalid Events [Nope]"),
    ],
)
def test_event_parameter_errors(sandbox, body, message):
    response = call(sandbox, EVENTS, {"identities": {"email": ["user1@example.com"]}, **body})
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "validation_error", "message": message}}


def test_profile_type_error(sandbox):
    response = call(
        sandbox,
        PROFILES,
        {"profile_id": listing(sandbox, 1)[0]["profile_id"], "type": ["trait", "traits"]},
    )
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "validation_error",
            "message": "Invalid type [trait, traits]: allowed values are trait, ptrait, identity",
        }
    }


# profiles ---------------------------------------------------------------------------------
def test_profile_by_every_identity_and_id(sandbox):
    for entry in listing(sandbox):
        expected = call(sandbox, PROFILES, {"profile_id": entry["profile_id"]}).json()["data"]
        assert set(expected) == {"profile_id", "last_updated", "identity", "trait", "p_trait"}
        assert expected["identity"] == entry["identity"]
        assert len(expected["profile_id"]) == 27
        for name, values in entry["identity"].items():
            for value in values:
                body = {"identities": {name: [value]}}
                assert call(sandbox, PROFILES, body).json()["data"] == expected
    assert any(len(e["identity"]["phone_number"]) == 2 for e in listing(sandbox))


def test_profile_id_wins_and_first_matching_identity(sandbox):
    first, second = listing(sandbox, 2)
    body = {"profile_id": first["profile_id"], "identities": {"email": ["user1@example.com"]}}
    assert call(sandbox, PROFILES, body).json()["data"]["profile_id"] == first["profile_id"]
    body = {"identities": {"email": ["nobody@example.com", "user1@example.com"]}}
    assert call(sandbox, PROFILES, body).json()["data"]["profile_id"] == second["profile_id"]


def test_profile_type_and_include(sandbox):
    pid = listing(sandbox, 1)[0]["profile_id"]
    data = call(sandbox, PROFILES, {"profile_id": pid, "type": ["trait"]}).json()["data"]
    assert set(data) == {"profile_id", "last_updated", "trait"}
    assert set(data["trait"]) == {"full_name", "address", "gender", "birthday", "country"}
    body = {"profile_id": pid, "type": ["ptrait", "identity"], "include": ["ltv", "full_name"]}
    data = call(sandbox, PROFILES, body).json()["data"]
    assert set(data) == {"profile_id", "last_updated", "p_trait", "identity"}
    assert set(data["p_trait"]) == {"ltv"}
    body = {"profile_id": pid, "include": ["full_name"]}
    data = call(sandbox, PROFILES, body).json()["data"]
    assert (set(data["trait"]), data["p_trait"]) == ({"full_name"}, {})


# events -------------------------------------------------------------------------------------
def test_start_end_are_exclusive(sandbox):
    pid = listing(sandbox, 1)[0]["profile_id"]
    events = all_pages(sandbox, {"profile_id": pid, "sort": "asc", "limit": 100})
    middle = events[len(events) // 2]
    moment = parse_datetime(middle["time_stamp"])
    same = [e for e in events if ts(e) == moment.timestamp()]
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    after = all_pages(sandbox, {"profile_id": pid, "start": moment.strftime(fmt), "limit": 100})
    assert {e["id"] for e in after} == {e["id"] for e in events if ts(e) > moment.timestamp()}
    before = (moment - timedelta(seconds=1)).strftime(fmt)
    around = {
        "profile_id": pid,
        "start": before,
        "end": (moment + timedelta(seconds=1)).isoformat(),
    }
    assert {e["id"] for e in all_pages(sandbox, around)} == {e["id"] for e in same}
    naive_end = moment.replace(tzinfo=None).isoformat()  # naive means UTC
    upto = all_pages(sandbox, {"profile_id": pid, "end": naive_end})
    assert {e["id"] for e in upto} == {e["id"] for e in events if ts(e) < moment.timestamp()}
    shifted = (moment + timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S+07:00")
    assert len(all_pages(sandbox, {"profile_id": pid, "end": shifted})) == len(upto)
    day = moment.date().isoformat()
    dated = all_pages(sandbox, {"profile_id": pid, "start": day})
    midnight = datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp()
    assert len(dated) == sum(ts(e) > midnight for e in events)


def test_include_and_sort(sandbox):
    pid = listing(sandbox, 1)[0]["profile_id"]
    base = {"profile_id": pid, "limit": 100}
    events = call(sandbox, EVENTS, base).json()["data"]
    names = sorted({e["event_name"] for e in events})[:2]
    included = call(sandbox, EVENTS, {**base, "include": names}).json()["data"]
    assert included == [e for e in events if e["event_name"] in names]
    assert call(sandbox, EVENTS, {**base, "include": []}).json()["data"] == events
    asc = call(sandbox, EVENTS, {**base, "sort": "asc"}).json()["data"]
    desc = call(sandbox, EVENTS, {**base, "sort": "desc"}).json()["data"]
    assert [ts(e) for e in asc] == sorted(ts(e) for e in events)
    assert desc == asc[::-1]
    assert [ts(e) for e in events] != [ts(e) for e in asc]  # default order: not by time
    assert call(sandbox, EVENTS, base).json()["data"] == events  # but deterministic


def test_limit_default_and_max(sandbox):
    server = start_in_thread(SandboxConfig(workspace=Workspace(2, 130, seed=3)))
    try:
        url, key = server.url + EVENTS, {"x-api-key": sandbox.credentials.primedata_api_key}
        body = {"identities": {"email": ["user1@example.com"]}}
        default = requests.post(url, json=body, headers=key, timeout=10).json()
        assert len(default["data"]) == 25 and default["cursor"]["has_more"]
        full = requests.post(url, json={**body, "limit": 100}, headers=key, timeout=10).json()
        assert len(full["data"]) == 100 and full["cursor"]["has_more"]
        rest = {**body, "limit": 100, "cursor": full["cursor"]["next"]}
        last = requests.post(url, json=rest, headers=key, timeout=10).json()
        assert len(last["data"]) == 30 and last["cursor"] == {"has_more": False}
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"sort": "asc"},
        {"sort": "desc"},
        {"include": ["PageView", "AppOpened"], "start": "2023-06-01"},
    ],
)
def test_cursor_covers_every_event_once(sandbox, extra):
    pid = listing(sandbox, 2)[1]["profile_id"]
    whole = call(sandbox, EVENTS, {"profile_id": pid, "limit": 100, **extra}).json()["data"]
    paged = all_pages(sandbox, {"profile_id": pid, "limit": 4, **extra})
    assert paged == whole


def test_cursor_bound_to_its_query(sandbox):
    first, second = listing(sandbox, 2)
    page = call(sandbox, EVENTS, {"profile_id": first["profile_id"], "limit": 3}).json()
    cursor = page["cursor"]["next"]
    by_email = {"identities": first["identity"], "limit": 3, "cursor": cursor}
    assert call(sandbox, EVENTS, by_email).status_code == 200  # same profile, same query
    for body in (
        {"profile_id": second["profile_id"], "cursor": cursor},
        {"profile_id": first["profile_id"], "sort": "asc", "cursor": cursor},
        {"profile_id": first["profile_id"], "cursor": "garbage!"},
        {"profile_id": first["profile_id"], "cursor": base64.b64encode(b"x").decode()},
    ):
        response = call(sandbox, EVENTS, body)
        assert (response.status_code, response.json()) == (400, BAD_CURSOR)
