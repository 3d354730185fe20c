"""What delivery hands the ledger: a prepared record's `Mark`, and a batch's `Outcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class Mark:
    """One prepared record (or delete) on a route with a ledger: what settling it needs."""

    __slots__ = ("bkey", "clear", "delete_values", "hash", "interval", "item", "key", "kind",
                 "record", "slot", "text", "version")  # fmt: skip

    def __init__(
        self,
        key: Any,
        text: str | None,
        item: Any,
        record: dict[str, Any],
        kind: str,
        digest: str | None = None,
    ) -> None:
        self.key = key
        self.text = text  # the key as ledger text (None: a keyless stream)
        self.item = item
        self.record = record
        self.kind = kind  # "upsert", "tombstone" (a record deleted at the source) or "delete"
        self.hash = digest  # the payload's fingerprint (None: not fingerprinted)
        self.version: int | None = None
        self.delete_values: str | None = None
        self.clear: str | None = None  # a failure row to drop once this is delivered
        self.bkey: Any = None
        self.interval: Any = None
        self.slot = 0


@dataclass
class Outcome:
    """What happened to a batch's marks: delivered, or failed (pending / refused)."""

    delivered: list[Mark] = field(default_factory=list)
    failed: list[tuple[Mark, str, str, str]] = field(default_factory=list)  # mark, kind, code, msg
