"""Which profiles changed since they were last emitted, kept in the `profiles` stream state.

PrimeData's `last_updated` comes from PrimeData's clock, not ours, so it is compared as a
value, never against a time: a profile is emitted when its lookup is new or its
`last_updated` differs from the one last emitted for that lookup. The state keeps one 64-bit
fingerprint per lookup of `(lookup, last_updated, what was asked for)`, as a packed sorted set
(about 6 bytes a lookup): a profile whose fingerprint is in the set is unchanged. Asking for
other parts or properties (`profile_types`, `profile_properties`) changes every fingerprint,
so every profile is sent once again. A missing or unparseable `last_updated` is always emitted.

State (version 1): `{"version": 1, "seen": [packed set, ...]}`. A finished run keeps exactly
the fingerprints it saw (lookups no longer configured drop out); mid-run STATE adds the
fingerprints of the profiles emitted so far to the sets it started from, reusing their text,
so it grows with what changed, not with the lookups read (an unchanged profile's fingerprint
is in those sets already).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from array import array
from collections.abc import Mapping
from typing import Any

from tap_primedata.bookmarks import STATE_KEY, StateUnreadable
from tap_primedata.packing import contains, pack_ids, unpack_ids

VERSION = 1
FREEZE = 50_000  # fingerprints of this run kept unpacked before they are packed once


def request_fingerprint(config: Mapping[str, Any]) -> str:
    """What the profiles request asks for, as text mixed into every fingerprint."""
    asked = {
        "profile_types": sorted(config.get("profile_types") or []),
        "profile_properties": sorted(config.get("profile_properties") or []),
    }
    return json.dumps(asked, sort_keys=True)


class ProfileMarks:
    """The `profiles` fingerprints of one run."""

    def __init__(self, stream_state: dict[str, Any], request: str) -> None:
        self.request = request
        self.loaded: list[array[int]] = []
        self.loaded_texts: list[str] = []
        self.seen = array("Q")  # this run's fingerprints, in the order seen
        self.emitted = array("Q")  # those not in the loaded sets, in the order seen
        self.packed_runs: list[str] = []  # `emitted[:packed_upto]`, packed in slices
        self.packed_upto = 0
        self._load(stream_state.get(STATE_KEY))

    def _load(self, raw: Any) -> None:
        if not raw:
            return
        version = raw.get("version") if isinstance(raw, dict) else None
        if version != VERSION:
            raise StateUnreadable(
                f"the profiles bookmarks have an unknown format (version {version!r})"
            )
        try:
            texts = raw["seen"]
            if not isinstance(texts, list):
                raise TypeError("seen is not a list")
            self.loaded = [unpack_ids(text) for text in texts]
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise StateUnreadable(f"the profiles bookmarks are corrupt ({exc})") from None
        self.loaded_texts = list(texts)

    def fingerprint(self, lookup_id: int, last_updated: str) -> int:
        text = f"{lookup_id:016x}\x00{last_updated}\x00{self.request}"
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")

    def changed(self, lookup_id: int, last_updated: str | None) -> bool:
        """Whether this profile is to be emitted; remembers it as seen either way."""
        if not last_updated:
            return True
        value = self.fingerprint(lookup_id, last_updated)
        self.seen.append(value)
        if any(contains(ids, value) for ids in self.loaded):
            return False
        self.emitted.append(value)
        return True

    def checkpoint(self) -> dict[str, Any]:
        """The state to emit mid-run: what it started from plus what this run emitted so far."""
        if len(self.emitted) - self.packed_upto >= FREEZE:
            self.packed_runs.append(pack_ids(self.emitted[self.packed_upto :]))
            self.packed_upto = len(self.emitted)
        texts = self.loaded_texts + self.packed_runs
        if len(self.emitted) > self.packed_upto:
            texts = [*texts, pack_ids(self.emitted[self.packed_upto :])]
        return {"version": VERSION, "seen": texts}

    def finish(self) -> dict[str, Any]:
        """The state of a finished run: exactly the fingerprints it saw."""
        return {"version": VERSION, "seen": [pack_ids(self.seen)] if self.seen else []}
