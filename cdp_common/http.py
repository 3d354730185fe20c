"""HTTP facts both plugins need, defined once: `Retry-After` and the proxy/CA environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), if any."""
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None or not str(raw).strip():
        return None
    raw = str(raw).strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def environment_for(url: str) -> dict[str, Any]:
    """What `requests` would take from the environment for `url`: `proxies`, and `verify`
    (a CA bundle) for https. Read once and kept, since requests re-reads it on every call."""
    settings: dict[str, Any] = {"proxies": requests.utils.get_environ_proxies(url)}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and url.startswith("https:"):
        settings["verify"] = bundle
    return settings
