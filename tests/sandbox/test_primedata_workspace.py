"""The PrimeData sandbox's workspace over real HTTP: shape, determinism, helpers, overlay."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone

import requests

from cdp_sandbox.config import SandboxConfig, Workspace
from cdp_sandbox.server import start_in_thread
from cdp_sandbox.timeformat import parse_datetime, parse_ts, to_rfc3339
from cdp_sandbox.workspace import EVENT_NAMES
from cdp_sandbox.workspace import Workspace as PrimeWorkspace

PROFILES, EVENTS = "/pub/profiles/advanced-search", "/pub/events/advanced-search"
NOT_FOUND = {"error": {"code": "not_found", "message": "The requested resource doesn't exist."}}


def call(sandbox, path: str, body: dict, url: str | None = None):
    """POST with the right api key to `sandbox` (or to another sandbox at `url`)."""
    key = {"x-api-key": sandbox.credentials.primedata_api_key}
    return requests.post((url or sandbox.url) + path, json=body, headers=key, timeout=10)


def listing(sandbox, limit: int = 100, offset: int = 0) -> list[dict]:
    url = f"{sandbox.url}/_sandbox/primedata/profiles?limit={limit}&offset={offset}"
    return requests.get(url, timeout=10).json()["profiles"]


def ts(event: dict) -> float:
    return parse_ts(event["time_stamp"])


def events_of(sandbox, profile_id: str, **extra) -> list[dict]:
    """Every event of a profile (at most 100, one page)."""
    body = {"profile_id": profile_id, "limit": 100, **extra}
    return call(sandbox, EVENTS, body).json()["data"]


def test_event_shape_and_workspace_invariants(sandbox):
    events, ids = [], set()
    for entry in listing(sandbox):
        page = call(sandbox, EVENTS, {"profile_id": entry["profile_id"], "limit": 100}).json()
        assert page["cursor"] == {"has_more": False}
        assert len(page["data"]) == sandbox.config.workspace.events_per_profile
        assert {e["profile_id"] for e in page["data"]} == {entry["profile_id"]}
        events += page["data"]
        ids |= {e["id"] for e in page["data"]}
    assert len(ids) == len(events)  # ids unique across the workspace
    low, high = datetime(2023, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 1, tzinfo=timezone.utc)
    for event in events:
        assert set(event) == {
            "id",
            "profile_id",
            "event_name",
            "time_stamp",
            "sent_at",
            "input_schema_version",
            "properties",
        }
        assert event["event_name"] in EVENT_NAMES and event["input_schema_version"] == "0.1"
        assert event["id"].split(".")[1] == event["event_name"]
        assert low <= parse_datetime(event["time_stamp"]) <= parse_datetime(event["sent_at"]) < high
        assert {"at", "full_name", "phone_number", "customer_id"} <= set(event["properties"])
    stamps = [e["time_stamp"] for e in events]
    assert any(s[4] == ":" for s in stamps)  # 2023:01:01T20:00:00Z
    assert any(s[4] == "-" and s.endswith("Z") for s in stamps)  # 2023-05-21T04:48:23Z
    assert any(not s.endswith("Z") for s in stamps)  # 2023-05-21T11:48:23 (naive)
    assert any(max(e["properties"]["full_name"]) > "\u00ff" for e in events)  # Vietnamese


def test_ties_present(sandbox):
    ties = total = 0
    for entry in listing(sandbox):
        body = {"profile_id": entry["profile_id"], "sort": "asc", "limit": 100}
        times = [ts(e) for e in call(sandbox, EVENTS, body).json()["data"]]
        ties += sum(a == b for a, b in itertools.pairwise(times))
        total += len(times)
    assert 0.01 * total <= ties <= 0.12 * total


# workspace ---------------------------------------------------------------------------------
def test_same_seed_same_workspace(sandbox):
    other = start_in_thread(SandboxConfig(workspace=sandbox.config.workspace))
    differ = start_in_thread(SandboxConfig(workspace=Workspace(20, 15, seed=8)))
    try:
        for i in (0, 7, 19):
            body = {"identities": {"email": [f"user{i}@example.com"]}, "limit": 100}
            here = [call(sandbox, p, body).json() for p in (PROFILES, EVENTS)]
            there = [call(sandbox, p, body, other.url).json() for p in (PROFILES, EVENTS)]
            elsewhere = call(sandbox, EVENTS, body, differ.url).json()
            assert here == there and here[1] != elsewhere
    finally:
        for server in (other, differ):
            server.shutdown()
            server.server_close()


def test_helpers_match_the_api(sandbox):
    ws = PrimeWorkspace.from_config(sandbox.config.workspace)
    for i in (0, 5):
        body = {"profile_id": ws.profile_id(i), "limit": 100}
        assert call(sandbox, PROFILES, body).json()["data"] == ws.profile(i)
        assert call(sandbox, EVENTS, body).json()["data"] == ws.events_for(i)
        window = {"start": "2024-01-01", "end": "2025-01-01T00:00:00Z", "sort": "desc"}
        assert call(sandbox, EVENTS, {**body, **window}).json()["data"] == ws.events_for(
            i, **window
        )


def test_large_workspace_is_lazy():
    ws = PrimeWorkspace(100_000, 20, 42)
    assert ws.lookup("email", "user99999@example.com") == 99_999
    assert ws.index_of(ws.profile_id(54_321)) == 54_321
    assert len(ws.events_for(99_999)) == 20
    assert ws._data.cache_info().currsize == 1


def test_timeformat_parses_the_vendor_spellings():
    assert to_rfc3339("2023:01:01T20:00:00Z") == "2023-01-01T20:00:00Z"
    assert to_rfc3339("2023-05-21T11:48:23") == "2023-05-21T11:48:23Z"
    assert to_rfc3339("2023-05-21T11:48:23+07:00") == "2023-05-21T04:48:23Z"
    assert to_rfc3339("2006-01-02") == "2006-01-02T00:00:00Z"


# control endpoints -------------------------------------------------------------------------
def test_listing_profiles(sandbox):
    first_page, rest = listing(sandbox, 5), listing(sandbox, 100, offset=5)
    assert [p["index"] for p in first_page + rest] == list(range(20))
    assert first_page[3]["identity"]["email"] == ["user3@example.com"]


def test_overlay_events(sandbox):
    pid = listing(sandbox, 1)[0]["profile_id"]
    url = sandbox.url + "/_sandbox/primedata/events"
    new = [
        {
            "event_name": "OrderCreated",
            "time_stamp": "2026-01-02T03:04:05Z",
            "properties": {"order_revenue": 1},
        },
        {"event_name": "Refunded", "time_stamp": "2026:01:02T03:04:05Z", "id": "mine.1"},
    ]
    ids = requests.post(url, json={"profile_id": pid, "events": new}, timeout=10).json()["ids"]
    assert ids[1] == "mine.1" and ids[0].startswith("SandboxOverlay.OrderCreated.")
    body = {"profile_id": pid, "start": "2026-01-01", "limit": 100, "sort": "asc"}
    added = call(sandbox, EVENTS, body).json()["data"]
    assert [e["id"] for e in added] == ids
    assert added[0]["properties"] == {"order_revenue": 1} and added[0]["profile_id"] == pid
    assert call(sandbox, EVENTS, {**body, "include": ["Refunded"]}).json()["data"] == added[1:]
    everything = events_of(sandbox, pid)
    assert len(everything) == sandbox.config.workspace.events_per_profile + 2
    unknown = requests.post(url, json={"profile_id": "nope", "events": []}, timeout=10)
    assert (unknown.status_code, unknown.json()) == (404, NOT_FOUND)
    bad = requests.post(url, json={"profile_id": pid, "events": [{"event_name": "X"}]}, timeout=10)
    assert bad.status_code == 400
    assert requests.delete(url, timeout=10).json() == {"ok": True}
    assert call(sandbox, EVENTS, body).json()["data"] == []
