"""Config files the harness writes for the connectors and the baselines, and sandbox lookups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from benchmarks.measure import SandboxProcess
from cdp_sandbox.config import Credentials

CREDS = Credentials()
DMARTECH_PATH = "/api/v1/api/import"


def profile_ids(box: SandboxProcess, count: int) -> list[str]:
    """The first `count` profile ids of the sandbox's workspace."""
    resp = requests.get(
        f"{box.url}/_sandbox/primedata/profiles", params={"limit": count}, timeout=120
    )
    resp.raise_for_status()
    body: Any = resp.json()
    if isinstance(body, dict):
        body = body.get("profiles") or body.get("data") or body.get("profile_ids") or []
    ids = [p["profile_id"] if isinstance(p, dict) else str(p) for p in body]
    if len(ids) < count:
        raise RuntimeError(f"sandbox listed {len(ids)} profiles, {count} wanted")
    return ids[:count]


def write_json(path: Path, value: dict[str, Any]) -> Path:
    path.write_text(json.dumps(value, indent=1))
    return path


def tap_config(
    box: SandboxProcess, ids: list[str], concurrency: int, page_size: int = 100
) -> dict[str, Any]:
    return {
        "api_url": box.url,
        "api_key": CREDS.primedata_api_key,
        "profile_ids": ids,
        "page_size": page_size,
        "max_concurrency": concurrency,
    }


def events_catalog(tap_exe: str, config: Path, workdir: Path) -> Path | None:
    """A catalog with only the `events` stream selected (None when discovery fails)."""
    import subprocess

    out = subprocess.run(
        [tap_exe, "--config", str(config), "--discover"],
        capture_output=True,
        cwd=workdir,
        timeout=120,
    )
    if out.returncode != 0:
        return None
    catalog = json.loads(out.stdout)
    for entry in catalog.get("streams", []):
        selected = entry["tap_stream_id"] == "events"
        for meta in entry.get("metadata", []):
            if not meta.get("breadcrumb"):
                meta["metadata"]["selected"] = selected
    return write_json(workdir / "catalog-events.json", catalog)


def target_config(
    box: SandboxProcess, concurrency: int, batch_size: int, workdir: Path
) -> dict[str, Any]:
    """Dmartech `event_batch` for `events`; `fields` picks a user key and 8 properties."""
    return {
        "dmartech": {
            "api_url": box.url + DMARTECH_PATH,
            "secret": CREDS.dmartech_secret,
            "primary_keys": ["user_id"],
            "batch_size": batch_size,
            # the sandbox is not rate limited: lift the vendor's documented 20 calls/s
            "requests_per_second": 1_000_000,
        },
        "mappings": [
            {
                "stream": "events",
                "destination": "dmartech",
                "type": "event",
                "event_name_property": "event_name",
                "event_id_property": "id",
                "create_time_property": "time_stamp",
                "fields": {
                    "user_id": "profile_id",
                    "event_id": "id",
                    "create_time": "time_stamp",
                    "full_name": "properties.full_name",
                    "mobile": "properties.phone_number",
                    "email": "properties.email",
                    "customer_id": "properties.customer_id",
                    "order_id": "properties.order_id",
                    "order_revenue": "properties.order_revenue",
                    "page_url": "properties.page_url",
                    "platform": "properties.platform",
                },
            }
        ],
        "max_concurrency": concurrency,
        "dead_letter_path": str(workdir / "rejected.jsonl"),
        # events are not diffed: the ledger keeps run history and failures only
        "ledger_uri": f"sqlite:///{workdir.resolve() / 'target-cdp-ledger.db'}",
    }
