"""Shared helpers for the destination emulators: value checks and per-vendor store buckets."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeGuard

from cdp_sandbox.app import App

_DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# A string that starts like a date followed by a time, in any notation ("2024-01-02T03:04").
_DATETIME_LIKE_RE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}[T ]\d{1,2}:")


def is_datetime(value: Any) -> bool:
    """True for a string `YYYY-MM-DD HH:MM:SS` naming a real instant."""
    if not isinstance(value, str) or not _DATETIME_RE.fullmatch(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return False
    return True


def looks_like_datetime(value: Any) -> bool:
    """True for a string that starts with a date and a time, whatever its exact notation."""
    return isinstance(value, str) and _DATETIME_LIKE_RE.match(value) is not None


def is_date(value: Any) -> bool:
    """True for a string `yyyy-MM-dd` naming a real day."""
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def is_int(value: Any) -> TypeGuard[int]:
    """True for a JSON integer (booleans excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """True for a JSON number (booleans excluded)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_blank(value: Any) -> bool:
    """True for a missing value: None, or a string of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


class VendorState:
    """One vendor's bucket in `store.data`, plus private state that resets with it.

    `store.data` is emptied by `POST /_sandbox/reset`; the bucket (and `side`, state that
    is not JSON, such as sets of seen ids) is rebuilt on the next call. Call `bucket()`
    only while holding `app.store.lock`. With `store_bodies` off, the bucket keeps only
    its `counts`. `side(bucket)` builds the private state for a fresh bucket.
    """

    def __init__(
        self,
        app: App,
        vendor: str,
        layout: Callable[[], dict[str, Any]],
        side: Callable[[dict[str, Any]], dict[str, Any]] = lambda bucket: {},
    ) -> None:
        self.store = app.store
        self.vendor = vendor
        self.layout = layout
        self.make_side = side
        self.keep = app.config.store_bodies
        self.side: dict[str, Any] = {}
        with self.store.lock:
            self.bucket()

    def bucket(self) -> dict[str, Any]:
        """The vendor's bucket, created (and `side` reset) when missing."""
        data = self.store.data.get(self.vendor)
        if data is None:
            data = self.layout()
            if not self.keep:
                data = {"counts": data["counts"]}
            self.side = self.make_side(data)
            self.store.data[self.vendor] = data
        return data

    def touch(self) -> None:
        """Make sure the bucket exists (so a reset sandbox shows zero counts)."""
        with self.store.lock:
            self.bucket()
