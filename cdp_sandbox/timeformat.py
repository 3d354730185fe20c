"""PrimeData's three timestamp spellings: format them (fast, second precision) and parse them.

The vendor document mixes `2023:01:01T20:00:00Z` (colons in the date), `2023-05-21T04:48:23Z`
and `2023-05-21T11:48:23` (no zone). A naive value is UTC everywhere in this project.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

COLON_DATE = 0  # "2023:01:01T20:00:00Z"
ISO_Z = 1  # "2023-05-21T04:48:23Z"
NAIVE = 2  # "2023-05-21T11:48:23"
STYLES = (COLON_DATE, ISO_Z, NAIVE)

_COLON_DATE_RE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})(?=[T ]|$)")


def format_ts(epoch: int, style: int) -> str:
    """Spell `epoch` (whole seconds, UTC) in one of the three `STYLES`."""
    t = time.gmtime(epoch)
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if style == COLON_DATE:
        return f"{t.tm_year:04d}:{t.tm_mon:02d}:{t.tm_mday:02d}T{clock}Z"
    if style == ISO_Z:
        return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{clock}Z"
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{clock}"


def parse_datetime(value: object) -> datetime:
    """Parse any of the three spellings, or ISO 8601 (date, date-time, offset); naive means UTC.

    Raises ValueError when `value` is none of these.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a timestamp: {value!r}")
    text = _COLON_DATE_RE.sub(r"\1-\2-\3", value.strip())
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def parse_ts(value: object) -> float:
    """`parse_datetime(value)` as seconds since the epoch."""
    return parse_datetime(value).timestamp()


def to_rfc3339(value: str) -> str:
    """Normalise any accepted spelling to RFC 3339 UTC, e.g. `2023-01-01T20:00:00Z`."""
    parsed = parse_datetime(value).astimezone(timezone.utc)
    text = parsed.strftime("%Y-%m-%dT%H:%M:%S")
    if parsed.microsecond:
        text += f".{parsed.microsecond:06d}".rstrip("0")
    return text + "Z"
