"""Setting values the JSON schema cannot judge: dates, the time zone, the lookup file.

Each problem is one line naming the setting, found before the run reads anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tap_primedata import timestamps as ts


def problems(config: Mapping[str, Any]) -> list[str]:
    """One line per unusable `start_date`, `end_date`, `naive_timezone` or `profiles_file`."""
    found = []
    for name in ("start_date", "end_date"):
        value = config.get(name)
        if value in (None, ""):
            continue
        try:
            ts.normalize(value)
        except (ValueError, OverflowError):
            found.append(
                f"`{name}`: {value!r} is not a date-time (RFC 3339, e.g. 2024-01-31T00:00:00Z)"
            )
    zone = config.get("naive_timezone")
    try:
        ts.make_timezone(zone)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        found.append(
            f"`naive_timezone`: {zone!r} is not UTC, an offset like +07:00 or an IANA zone name"
        )
    path = config.get("profiles_file")
    if path:
        if not os.path.isfile(path):
            found.append(f"`profiles_file`: {path} does not exist or is not a file")
        elif not os.access(path, os.R_OK):
            found.append(f"`profiles_file`: {path} cannot be read")
    return found
