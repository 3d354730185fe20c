"""Reversible PrimeData identities: profile `i`'s KSUID-like id and identity values, and back.

Every value encodes `i` (masked or permuted by the seed), so a lookup is O(1): decode a candidate
index, then check that profile `i` really has that value.
"""

from __future__ import annotations

import functools
import hashlib

IDENTITY_NAMES = ("phone_number", "email", "crm_user_id", "clevertap_device_id")

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B62_INDEX = {c: n for n, c in enumerate(_B62)}
_KSUID_EPOCH = 1_400_000_000
_MOD = 10**8  # phone numbers and CRM ids are affine permutations of i modulo this


def digest(*parts: object) -> bytes:
    """32 bytes derived from `parts` (stable across processes, unlike `hash()`)."""
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=32).digest()


def _b62(raw: bytes) -> str:
    n, out = int.from_bytes(raw, "big"), []
    for _ in range(27):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out))


class IdentityCodec:
    """Profile ids and identities of a workspace of `profiles` profiles with this `seed`."""

    def __init__(self, profiles: int, seed: int) -> None:
        self.profiles, self.seed = profiles, seed
        key = digest("workspace", seed)
        self._mask = int.from_bytes(key[:4], "big")
        self._dev_mask = int.from_bytes(key[4:8], "big")
        # odd and not a multiple of 5, hence invertible modulo 10**8
        self._mul = [(int.from_bytes(key[8 + 4 * k : 12 + 4 * k], "big") | 1) for k in range(3)]
        self._mul = [m + 2 if m % 5 == 0 else m for m in self._mul]
        self._inv = [pow(m, -1, _MOD) for m in self._mul]
        self._add = [int.from_bytes(key[20 + 4 * k : 24 + 4 * k], "big") % _MOD for k in range(3)]
        self._ident = functools.lru_cache(maxsize=16_384)(self._make_ident)

    def _perm(self, k: int, i: int) -> int:
        return (self._mul[k] * i + self._add[k]) % _MOD

    def _unperm(self, k: int, v: int) -> int:
        return ((v - self._add[k]) * self._inv[k]) % _MOD

    def _make_ident(self, i: int) -> tuple[str, dict[str, list[str]]]:
        h = digest("profile", self.seed, i)
        created = 1640995200 + int.from_bytes(h[14:17], "big") % (365 * 86400) - _KSUID_EPOCH
        raw = created.to_bytes(4, "big") + h[17:29] + (i ^ self._mask).to_bytes(4, "big")
        phones = [f"09{self._perm(0, i):08d}"]
        if h[0] < 51:  # about 20% have a second phone number
            phones.append(f"03{self._perm(1, i):08d}")
        ident = {
            "phone_number": phones,
            "email": [f"user{i}@example.com"],
            "crm_user_id": [str(10**8 + self._perm(2, i))],
        }
        if h[1] < 77:  # about 30% have a CleverTap device
            ident["clevertap_device_id"] = [f"__{h[2:14].hex()}{i ^ self._dev_mask:08x}"]
        return _b62(raw), ident

    def profile_id(self, i: int) -> str:
        """The 27-character KSUID-like PrimeData id of profile `i`."""
        return self._ident(i)[0]

    def identities(self, i: int) -> dict[str, list[str]]:
        """Identity name -> values of profile `i` (a copy)."""
        return {k: list(v) for k, v in self._ident(i)[1].items()}

    def index_of(self, profile_id: object) -> int | None:
        """The index of the profile with this id, or None."""
        if not isinstance(profile_id, str) or len(profile_id) != 27:
            return None
        n = 0
        for c in profile_id:
            d = _B62_INDEX.get(c)
            if d is None:
                return None
            n = n * 62 + d
        if n >= 1 << 160:
            return None
        i = (n & 0xFFFFFFFF) ^ self._mask
        return i if i < self.profiles and self.profile_id(i) == profile_id else None

    def lookup(self, name: str, value: object) -> int | None:
        """The index of the profile having identity `name` = `value`, or None."""
        text = str(value)
        i: int | None = None
        try:
            if name == "email" and text.startswith("user") and text.endswith("@example.com"):
                i = int(text[4:-12])
            elif name == "phone_number" and len(text) == 10 and text[:2] in ("09", "03"):
                i = self._unperm(0 if text[:2] == "09" else 1, int(text[2:]))
            elif name == "crm_user_id" and len(text) == 9:
                i = self._unperm(2, int(text) - 10**8)
            elif name == "clevertap_device_id" and len(text) == 34:
                i = int(text[-8:], 16) ^ self._dev_mask
        except ValueError:
            return None
        if i is None or not 0 <= i < self.profiles:
            return None
        return i if text in self._ident(i)[1].get(name, ()) else None
