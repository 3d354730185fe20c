"""What delivery hands the ledger: a prepared record's `Mark`, and a batch's `Outcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec


class Mark(msgspec.Struct, eq=False, repr_omit_defaults=True):
    """One prepared record (or delete) on a route with a ledger: what settling it needs (a
    struct: made in C, once a record)."""

    key: Any
    text: str | None  # the key as ledger text (None: a keyless stream)
    item: Any
    record: dict[str, Any]
    kind: str  # "upsert", "tombstone" (a record deleted at the source) or "delete"
    hash: str | None = None  # the payload's fingerprint
    version: int | None = None
    delete_values: str | None = None
    clear: str | None = None  # a failure row to drop once this is delivered
    bkey: Any = None
    interval: Any = None
    slot: int = 0


@dataclass
class Outcome:
    """What happened to a batch's marks: delivered, or failed (pending / refused)."""

    delivered: list[Mark] = field(default_factory=list)
    failed: list[tuple[Mark, str, str, str]] = field(default_factory=list)  # mark, kind, code, msg
