"""The demo driver: configure and run `tap-primedata | target-cdp` against a sandbox, then
summarize what each destination received. Used by `scripts/demo` and the end-to-end tests.

    python -m cdp_sandbox.demo --url http://127.0.0.1:PORT --out output/demo
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import Any

import requests

from cdp_sandbox.config import Credentials
from cdp_sandbox.pipeline import Run, run_pipeline


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


def received_summary(url: str) -> dict[str, Any]:
    """`GET /_sandbox/received?summary=1`: what each destination holds, lists as counts."""
    return requests.get(f"{url}/_sandbox/received", params={"summary": 1}, timeout=30).json()


ROUTE_COLUMNS = ("received", "delivered", "rejected", "requests", "retries")


def _route_table(summary_path: Path) -> list[str]:
    """The target's per-route summary (its `summary_path` JSON) as a table."""
    if not summary_path.exists():
        return []
    doc = json.loads(summary_path.read_text())
    width = max([len(r["route"]) for r in doc.get("routes", [])] + [5])
    head = f"  {'route':<{width}}" + "".join(f"{c:>11}" for c in ROUTE_COLUMNS)
    rows = [
        f"  {r['route']:<{width}}" + "".join(f"{r.get(c, 0):>11}" for c in ROUTE_COLUMNS)
        for r in doc.get("routes", [])
    ]
    ignored = doc.get("ignored_streams") or {}
    extra = [f"  ignored (no route): {ignored}"] if ignored else []
    return [f"target-cdp delivered ({doc.get('status', '?')}):", head, *rows, *extra, ""]


def _holdings(held: dict[str, Any]) -> str:
    """`200 users, 4000 events, ...` from a destination's `counts`."""
    counts = held.get("counts", {})
    return ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items()) or "nothing"


def summary_lines(run: Run, summary: dict[str, Any], summary_path: Path) -> list[str]:
    """A readable report: the target's per-route summary, then each destination's holdings."""
    lines = [
        f"pipeline finished in {run.seconds:.1f} s "
        f"(tap exit {run.tap_code}, target exit {run.target_code})",
        "",
        *_route_table(summary_path),
        "the sandbox's destinations now hold (GET /_sandbox/received?summary=1):",
    ]
    for destination, held in summary.get("received", {}).items():
        lines.append(f"  {destination:<10} {_holdings(held)}")
    calls = summary.get("calls", {})
    if calls:
        lines.append("  API calls: " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())))
    return lines


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through Pipeline.wait, which kills tap and target


def main(argv: list[str] | None = None) -> int:
    """Run the demo pipeline against a running sandbox and print the summary."""
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(prog="python -m cdp_sandbox.demo", description=__doc__)
    parser.add_argument("--url", required=True, help="the running sandbox")
    parser.add_argument("--out", default="output/demo", help="configs, logs and state go here")
    parser.add_argument("--profiles", type=int, default=200, help="profiles to read")
    args = parser.parse_args(argv)
    out = Path(args.out)
    creds = Credentials()
    profiles = workspace_profiles(args.url, args.profiles)
    print(
        f"cdp-sandbox at {args.url}: reading {len(profiles)} profiles and their events "
        "(half looked up by profile id, half by email)",
        flush=True,
    )
    tap_cfg = tap_config(args.url, creds, **lookups(profiles))
    summary_path = out / "summary.json"
    summary_path.unlink(missing_ok=True)
    for stale in out.glob("target-cdp-ledger.db*"):  # a new sandbox holds nothing yet
        stale.unlink()
    target_cfg = target_config(args.url, creds, out, summary_path=str(summary_path))
    run = run_pipeline(tap_cfg, target_cfg, out)
    print("\n".join(summary_lines(run, received_summary(args.url), summary_path)))
    print(f"\nconfigs, logs, STATE and dead letters: {out}/")
    if run.tap_code or run.target_code:
        print(f"demo: the pipeline failed; see {run.tap_log} and {run.target_log}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
