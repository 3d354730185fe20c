"""End-to-end helpers: what the workspace should produce, what the destinations hold, secrets."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdp_demo import configs


@dataclass
class Expected:
    """What the first `n` workspace profiles should produce at the destinations."""

    profile_ids: set[str]
    emails: set[str]
    event_ids: set[str]


def expected(sandbox: Any, n: int) -> Expected:
    """Profiles 0..n-1 of the sandbox's workspace and every event they have."""
    ws = sandbox.server.app.primedata
    ids = {ws.profile_id(i) for i in range(n)}
    emails = {ws.identities(i)["email"][0] for i in range(n)}
    events = {e["id"] for i in range(n) for e in ws.events_for(i)}
    return Expected(ids, emails, events)


def holdings(sandbox: Any) -> dict[str, Any]:
    """What each destination holds, as sets of keys, plus the duplicate counters."""
    got = sandbox.received()
    dm, el, nx = got.get("dmartech", {}), got.get("engagelab", {}), got.get("nxcloud", {})
    return {
        "dmartech_users": {u.get("user_id") for u in dm.get("users", [])},
        "dmartech_events": {str(e.get("event_id")) for e in dm.get("events", [])},
        "engagelab_users": {
            k.split(":", 1)[1] for k in el.get("identities", {}) if k.startswith("user_id:")
        },
        "engagelab_contacts": len(el.get("contacts", {})),
        "engagelab_events": {e.get("random_id") for e in el.get("events", [])},
        "nxcloud_emails": {c.get("email") for c in nx.get("customers", [])},
        "duplicates": {
            "dmartech": dm.get("counts", {}).get("duplicate_events", 0),
            "engagelab": el.get("counts", {}).get("duplicate_events", 0),
        },
        "counts": {k: v.get("counts", {}) for k, v in got.items()},
    }


def assert_complete(sandbox: Any, want: Expected) -> dict[str, Any]:
    """Every profile and event of `want` reached every route's destination."""
    have = holdings(sandbox)
    assert want.profile_ids <= have["dmartech_users"], "dmartech users missing"
    assert want.event_ids == have["dmartech_events"], "dmartech events differ"
    assert want.profile_ids <= have["engagelab_users"], "engagelab identities missing"
    assert have["engagelab_contacts"] >= len(want.profile_ids), "engagelab contacts missing"
    assert want.event_ids == have["engagelab_events"], "engagelab events differ"
    assert want.emails <= have["nxcloud_emails"], "nxcloud customers missing"
    return have


def all_lookups(sandbox: Any, n: int) -> dict[str, Any]:
    """tap-primedata lookups for profiles 0..n-1 (half by id, half by email), as the demo."""
    return configs.lookups(configs.workspace_profiles(sandbox.url, n))


def secret_values(sandbox: Any) -> list[str]:
    """Every credential the sandbox accepts, plus EngageLab's Basic token."""
    creds = sandbox.credentials
    token = f"{creds.engagelab_api_key}:{creds.engagelab_api_secret}".encode()
    return [*sandbox.secrets(), base64.b64encode(token).decode()]


def assert_no_secrets(sandbox: Any, *paths: Path, texts: tuple[str, ...] = ()) -> None:
    """None of the sandbox's secrets appears in these files (recursively) or texts."""
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    secrets = secret_values(sandbox)
    for f in files:
        if f.name in ("tap.json", "target.json") or f.suffix == ".yml":
            continue  # the configs themselves hold them
        content = f.read_text(errors="replace")
        for s in secrets:
            assert s not in content, f"a secret appears in {f.name}"
    for text in texts:
        for s in secrets:
            assert s not in text, "a secret appears in the output"


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for assertion messages."""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
