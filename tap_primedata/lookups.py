"""Profile lookups: which profiles to read, from the config or a JSONL file, sharded.

A lookup is either a PrimeData `profile_id` or one identity value (`email` = `a@b.c`).
Each has a stable 64-bit id (BLAKE2b of its canonical key, never Python's salted
`hash()`), used to split lookups across shards and as its name in the state.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("tap-primedata")


def stable_id(key: str) -> int:
    """A stable unsigned 64-bit hash of `key`."""
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class Lookup:
    """One profile to read: by `profile_id`, or by an identity name and value."""

    value: Any
    identity: str | None = None
    id: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = f"i\x00{self.identity}\x00{self.value}" if self.identity else f"p\x00{self.value}"
        object.__setattr__(self, "id", stable_id(key))

    @property
    def hex_id(self) -> str:
        """The stable id as 16 hex digits (how the state and the logs name a lookup)."""
        return f"{self.id:016x}"

    def request_fields(self) -> dict[str, Any]:
        """The body fields that select this profile in a PrimeData search."""
        if self.identity:
            return {"identities": {self.identity: [self.value]}}
        return {"profile_id": self.value}

    def as_record(self) -> dict[str, Any]:
        """The lookup as it appears in the `profiles` stream."""
        if self.identity:
            return {"identity": self.identity, "value": str(self.value)}
        return {"profile_id": str(self.value)}

    def describe(self) -> str:
        """Human-readable name for log lines."""
        if self.identity:
            return f"identity {self.identity}={self.value}"
        return f"profile_id {self.value}"


def from_line(data: Any) -> Lookup:
    """A lookup from one parsed JSONL line: `{"profile_id"}` or `{"identity", "value"}`."""
    if isinstance(data, Mapping):
        if data.get("profile_id") not in (None, ""):
            return Lookup(data["profile_id"])
        if data.get("identity") and data.get("value") not in (None, ""):
            return Lookup(data["value"], str(data["identity"]))
    raise ValueError('expected {"profile_id": ...} or {"identity": ..., "value": ...}')


class LookupSource:
    """Iterates the configured lookups lazily: `profile_ids`, `identities`, then `profiles_file`.

    Only lookups of this shard are yielded. Bad lines of the file are logged and counted
    in `invalid`, never fatal.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.profile_ids: list[Any] = list(config.get("profile_ids") or [])
        # name -> values (a lone value, not in a list, is one lookup)
        self.identities: dict[str, Any] = dict(config.get("identities") or {})
        self.profiles_file: str | None = config.get("profiles_file") or None
        self.shard_count = int(config.get("shard_count") or 1)
        self.shard_index = int(config.get("shard_index") or 0)
        if self.shard_count < 1 or not 0 <= self.shard_index < self.shard_count:
            raise ValueError("shard_index must be in 0..shard_count-1")
        self.invalid = 0

    @property
    def configured(self) -> bool:
        """Whether any lookup source is set."""
        return bool(self.profile_ids or self.identities or self.profiles_file)

    def count(self) -> tuple[int | None, bool]:
        """`(lookups of this shard, approximate)`, cheaply: the config's lookups exactly, a
        `profiles_file` by its lines (shared by the shards: divided among them, approximately),
        never holding the file in memory. `(None, False)` when the file cannot be read."""
        exact = sum(1 for _ in self._in_shard(self._from_config()))
        if not self.profiles_file:
            return exact, False
        lines, tail = 0, b"\n"
        try:
            with open(self.profiles_file, "rb") as file:
                while chunk := file.read(1 << 20):
                    lines += chunk.count(b"\n")
                    tail = chunk[-1:]
        except OSError:
            return None, False
        lines += tail != b"\n"
        if self.shard_count == 1:
            return exact + lines, False
        return exact + round(lines / self.shard_count), True

    def _from_config(self) -> Iterator[Lookup]:
        for profile_id in self.profile_ids:
            yield Lookup(profile_id)
        for name, values in self.identities.items():
            for value in values if isinstance(values, list) else [values]:
                yield Lookup(value, name)

    def _all(self) -> Iterator[Lookup]:
        yield from self._from_config()
        if self.profiles_file:
            yield from self._read_file(Path(self.profiles_file))

    def _in_shard(self, lookups: Iterator[Lookup]) -> Iterator[Lookup]:
        shard_count, shard_index = self.shard_count, self.shard_index
        for lookup in lookups:
            if lookup.id % shard_count == shard_index:
                yield lookup

    def _read_file(self, path: Path) -> Iterator[Lookup]:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    yield from_line(json.loads(line))
                except ValueError as exc:
                    self.invalid += 1
                    logger.warning("profiles_file line %d skipped: %s", number, exc)

    def __iter__(self) -> Iterator[Lookup]:
        return self._in_shard(self._all())
