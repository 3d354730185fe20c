"""Record keys as ledger text, and the fingerprint of a payload (what would be sent)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import msgspec

_ENCODER = msgspec.json.Encoder(order="deterministic")
_BLAKE2B_128 = hashlib.blake2b(digest_size=16)  # copied per hash: no parameters parsed each time


def key_text(key: Any) -> str | None:
    """A stream key as the ledger stores it: a string key as itself, others as JSON."""
    if key is None:
        return None
    if type(key) is str:
        return key
    if type(key) is int:
        return str(key)
    return json.dumps(list(key) if isinstance(key, tuple) else key, default=str,
                      separators=(",", ":"), ensure_ascii=False)  # fmt: skip


def fingerprint(item: Any) -> str:
    """blake2b-128 of the item as it would be sent (object keys sorted): equal payloads,
    equal fingerprints, whatever the order of a record's properties."""
    try:
        data = _ENCODER.encode(item)
    except (TypeError, msgspec.EncodeError):
        data = json.dumps(item, default=_plain, sort_keys=True).encode()
    digest = _BLAKE2B_128.copy()
    digest.update(data)
    return digest.hexdigest()


def fingerprints(items: list[Any]) -> list[str]:
    """`fingerprint` of each item (fewer steps an item)."""
    try:
        encoded = [_ENCODER.encode(item) for item in items]
    except (TypeError, msgspec.EncodeError):
        return [fingerprint(item) for item in items]
    new, digests = _BLAKE2B_128.copy, []
    for data in encoded:
        digest = new()
        digest.update(data)
        digests.append(digest.hexdigest())
    return digests


def _plain(value: Any) -> Any:
    fields = getattr(value, "__dict__", None)
    return fields if isinstance(fields, dict) else str(value)
