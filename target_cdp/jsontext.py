"""Readable JSON text for what the target writes for people and its ledger."""

from __future__ import annotations

import json
from typing import Any


def readable_json(value: Any) -> str:
    """Compact JSON, UTF-8 kept readable, anything unusual as its string."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
