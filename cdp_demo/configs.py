"""The demo's settings: tap-primedata reading the sandbox's PrimeData, target-cdp delivering
to its Dmartech, EngageLab and NXCloud (five routes and a stream map). Also the starting
point of the end-to-end tests and the benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from cdp_sandbox.config import Credentials


def workspace_profiles(url: str, limit: int) -> list[dict[str, Any]]:
    """The first `limit` profiles of the sandbox workspace (`profile_id`, `identity`), from its
    control endpoint `GET /_sandbox/primedata/profiles`."""
    rows: list[dict[str, Any]] = []
    while len(rows) < limit:
        answer = requests.get(
            f"{url}/_sandbox/primedata/profiles",
            params={"limit": min(1000, limit - len(rows)), "offset": len(rows)},
            timeout=30,
        )
        answer.raise_for_status()
        page = answer.json()["profiles"]
        if not page:
            break
        rows += page
    return rows


def lookups(profiles: list[dict[str, Any]]) -> dict[str, Any]:
    """tap-primedata lookup settings: the first half by profile id, the rest by email."""
    half = len(profiles) // 2
    settings: dict[str, Any] = {"profile_ids": [p["profile_id"] for p in profiles[:half]]}
    emails = [p["identity"]["email"][0] for p in profiles[half:] if p["identity"].get("email")]
    if emails:
        settings["identities"] = {"email": emails}
    return settings


def tap_config(url: str, creds: Credentials, **extra: Any) -> dict[str, Any]:
    """tap-primedata settings reading from the sandbox's PrimeData (add the lookups)."""
    return {
        "api_url": url,
        "api_key": creds.primedata_api_key,
        "start_date": "2020-01-01T00:00:00Z",
        **extra,
    }


# The routes of the demo: profiles to three destinations, events to two.
PROFILE_FIELDS = {
    "user_id": "profile_id",
    "email": "identity.email.0",
    "mobile": "identity.phone_number.0",
    "name": "trait.full_name",
}
MAPPINGS: list[dict[str, Any]] = [
    {"stream": "profiles", "destination": "dmartech", "type": "user", "fields": PROFILE_FIELDS},
    {
        "stream": "profiles",
        "destination": "engagelab",
        "type": "user",
        "identity_property": "user_id",
        "fields": {
            "user_id": "profile_id",
            "email": "identity.email.0",
            "mobile_phone": "identity.phone_number.0",
            "full_name": "trait.full_name",
        },
    },
    {
        "stream": "profiles",
        "destination": "nxcloud",
        "type": "customer",
        "fields": {
            "first_name": "first_name",
            "last_name": "last_name",
            "email": "identity.email.0",
            "sms_phone": "identity.phone_number.0",
            "country": "trait.country",
            "address": "trait.address",
            "birthday": "trait.birthday",
            "gender": "trait.gender",
        },
    },
    {
        "stream": "events",
        "destination": "dmartech",
        "type": "event",
        "event_name_property": "event_name",
        "fields": {
            "event_id": "id",
            "create_time": "time_stamp",
            "user_id": "profile_id",
            "page_url": "properties.page_url",
            "order_id": "properties.order_id",
            "order_revenue": "properties.order_revenue",
        },
    },
    {
        "stream": "events",
        "destination": "engagelab",
        "type": "event",
        "identity_property": "profile_id",
        "event_name_property": "event_name",
        "time_property": "time_stamp",
        "fields": {
            "random_id": "id",
            "page_url": "properties.page_url",
            "order_id": "properties.order_id",
            "order_revenue": "properties.order_revenue",
            "platform": "properties.platform",
        },
    },
]
# A stream map (run inside target-cdp, built into the Singer SDK): split the full name.
STREAM_MAPS = {
    "profiles": {
        "first_name": "(trait.get('full_name') or profile_id).split(' ')[0]",
        "last_name": "(trait.get('full_name') or profile_id).split(' ')[-1]",
    }
}


def target_config(url: str, creds: Credentials, out: Path, **extra: Any) -> dict[str, Any]:
    """target-cdp settings delivering to the sandbox's Dmartech, EngageLab and NXCloud."""
    return {
        "dmartech": {
            "api_url": f"{url}/api/v1/api/import",
            "secret": creds.dmartech_secret,
            "primary_keys": ["user_id", "email", "mobile"],
        },
        "engagelab": {
            "base_url": url,
            "api_key": creds.engagelab_api_key,
            "api_secret": creds.engagelab_api_secret,
            "identity_name": "user_id",
        },
        "nxcloud": {
            "base_url": url,
            "access_key": creds.nxcloud_access_key,
            "access_secret": creds.nxcloud_access_secret,
            "tenant_id": creds.nxcloud_tenant_id,
            "app_key": creds.nxcloud_app_key,
        },
        "mappings": MAPPINGS,
        "stream_maps": STREAM_MAPS,
        "dead_letter_path": str(out / "rejected.jsonl"),
        # the delivery ledger of this sandbox's destinations, next to the other outputs
        "ledger_uri": f"sqlite:///{out.resolve() / 'target-cdp-ledger.db'}",
        **extra,
    }
