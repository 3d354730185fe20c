"""Compact text encodings of the tap's per-lookup state (JSON-safe, deterministic).

Two shapes:

- an id set (`pack_ids`): sorted unsigned 64-bit ints, byte-planed and zlib'd, base64 — the
  profiles stream's fingerprints, and the lookups of a release-1 events state;
- a bookmark table (`Table`): per lookup id (sorted), an ordering key (microseconds since the
  epoch) and a few 32-bit fingerprints. Columns are stored apart so each compresses on its
  own: id deltas and fingerprints with zlib, whole seconds with bz2 when `tight` (close to
  their entropy; used for a run's final state), micro fractions sparsely. Base85 text.

At a million lookups a table is about 15.5 bytes a lookup: 5.7 for the id, 2.7 for the time,
4 for one fingerprint, base85's quarter on top (see `benchmarks/`).
"""

from __future__ import annotations

import base64
import bz2
import heapq
import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat

_LITTLE = sys.byteorder == "little"
_RAW, _ZLIB, _BZ2 = 0, 1, 2
_FORMAT = 1
_HEADER = struct.Struct(">BqI")  # format, base second, rows
_SECTION = struct.Struct(">BBI")  # codec, byte width, length
_B85_SLICE = 1 << 16  # bytes a `base64.b85encode` call gets (a multiple of 4)


def _planes(values: array[int]) -> bytes:
    """Big-endian bytes of `values`, byte-planed (all high bytes first): sorted or small
    numbers then compress well."""
    copy = array(values.typecode, values)
    if _LITTLE:
        copy.byteswap()
    raw = copy.tobytes()
    width = values.itemsize
    return b"".join(raw[i::width] for i in range(width))


def _unplane(data: bytes, typecode: str) -> array[int]:
    values = array(typecode)
    width = values.itemsize
    n = len(data) // width
    raw = bytearray(len(data))
    for i in range(width):
        raw[i::width] = data[i * n : (i + 1) * n]
    values.frombytes(bytes(raw))
    if _LITTLE:
        values.byteswap()
    return values


def b85encode(blob: bytes) -> str:
    """`base64.b85encode(blob)` as text, a slice at a time: the same text, but CPython's
    pure-Python encoder keeps a list entry per 4 bytes, ~500 MB at a million lookups at once."""
    step = _B85_SLICE
    return "".join(
        base64.b85encode(blob[i : i + step]).decode("ascii") for i in range(0, len(blob), step)
    )


def b85decode(text: str) -> bytes:
    """`base64.b85decode(text)`, a slice at a time (see `b85encode`; ValueError when bad)."""
    step = _B85_SLICE // 4 * 5
    return b"".join(base64.b85decode(text[i : i + step]) for i in range(0, len(text), step))


def pack_ids(ids: Iterable[int]) -> str:
    """A set of unsigned 64-bit ints as compact text (order-independent, deterministic)."""
    return base64.b64encode(zlib.compress(_planes(array("Q", sorted(ids))), 6)).decode("ascii")


def unpack_ids(text: str) -> array[int]:
    """The inverse of `pack_ids`: the ints, sorted, as an `array("Q")`."""
    return _unplane(zlib.decompress(base64.b64decode(text)), "Q")


def contains(sorted_ids: Sequence[int], value: int) -> bool:
    """Whether `value` is in the sorted sequence `sorted_ids`."""
    i = bisect_left(sorted_ids, value)
    return i < len(sorted_ids) and sorted_ids[i] == value


def _section(values: array[int], codec: int) -> bytes:
    data = _planes(values)
    if codec == _ZLIB:
        data = zlib.compress(data, 6)
    elif codec == _BZ2:
        data = bz2.compress(data, 9)
    return _SECTION.pack(codec, values.itemsize, len(data)) + data


def _read_section(blob: bytes, at: int) -> tuple[array[int], int]:
    codec, width, length = _SECTION.unpack_from(blob, at)
    at += _SECTION.size
    data = blob[at : at + length]
    if codec == _ZLIB:
        data = zlib.decompress(data)
    elif codec == _BZ2:
        data = bz2.decompress(data)
    typecode = {4: "I", 8: "Q"}[width]
    return _unplane(data, typecode), at + length


class Table:
    """Bookmarks by lookup id: `ids` sorted, `keys[i]` and fingerprints
    `fps[offsets[i]:offsets[i + 1]]` belong to `ids[i]`."""

    __slots__ = ("fps", "ids", "keys", "offsets")

    def __init__(self) -> None:
        self.ids = array("Q")
        self.keys = array("q")
        self.offsets = array("I", [0])
        self.fps = array("I")

    def __len__(self) -> int:
        return len(self.ids)

    def append(self, lookup_id: int, key: int, fps: Iterable[int]) -> None:
        """Add a row; ids must come in ascending order."""
        self.ids.append(lookup_id)
        self.keys.append(key)
        self.fps.extend(fps)
        self.offsets.append(len(self.fps))

    @classmethod
    def from_rows(cls, rows: Mapping[int, tuple[int, Iterable[int]]]) -> Table:
        """A table of `{lookup id: (key, fingerprints)}`."""
        table = cls()
        for lookup_id in sorted(rows):
            key, fps = rows[lookup_id]
            table.append(lookup_id, key, sorted(fps))
        return table

    def find(self, lookup_id: int) -> tuple[int, array[int]] | None:
        """`(key, fingerprints)` of a lookup, or None."""
        i = bisect_left(self.ids, lookup_id)
        if i == len(self.ids) or self.ids[i] != lookup_id:
            return None
        return self.keys[i], self.fps[self.offsets[i] : self.offsets[i + 1]]

    @classmethod
    def merge(cls, tables: Sequence[Table]) -> Table:
        """One table of every lookup in `tables` (newest first: the first row of an id wins)."""
        tables = [t for t in tables if len(t)]
        if len(tables) == 1:
            return tables[0]
        merged = cls()
        streams = [zip(t.ids, repeat(rank), range(len(t))) for rank, t in enumerate(tables)]
        last = None
        for lookup_id, rank, row in heapq.merge(*streams):
            if lookup_id == last:
                continue
            last = lookup_id
            table = tables[rank]
            merged.append(
                lookup_id,
                table.keys[row],
                table.fps[table.offsets[row] : table.offsets[row + 1]],
            )
        return merged

    # text ------------------------------------------------------------------------------
    def pack(self, *, tight: bool = False) -> str:
        """The table as base85 text (`tight`: slower, smaller; for a run's final state)."""
        n = len(self.ids)
        seconds = array("q", (k // 1_000_000 for k in self.keys))
        base = min(seconds, default=0)
        offsets = array("Q", (s - base for s in seconds))
        if not offsets or max(offsets) < 2**32:
            offsets = array("I", offsets)
        fractions = array("I")
        for row, key in enumerate(self.keys):
            if key % 1_000_000:
                fractions.extend((row, key % 1_000_000))
        deltas = array("Q", self.ids)
        for i in range(n - 1, 0, -1):
            deltas[i] -= deltas[i - 1]
        counts = array("I", (self.offsets[i + 1] - self.offsets[i] for i in range(n)))
        blob = b"".join(
            (
                _HEADER.pack(_FORMAT, base, n),
                _section(deltas, _ZLIB),
                _section(offsets, _BZ2 if tight else _ZLIB),
                _section(fractions, _ZLIB),
                _section(counts, _ZLIB),
                _section(self.fps, _RAW),
            )
        )
        return b85encode(blob)

    @classmethod
    def unpack(cls, text: str) -> Table:
        """The inverse of `pack` (ValueError when `text` is not a table)."""
        try:
            blob = b85decode(text)
            version, base, n = _HEADER.unpack_from(blob, 0)
            if version != _FORMAT:
                raise ValueError(f"unknown table format {version}")
            at = _HEADER.size
            deltas, at = _read_section(blob, at)
            offsets, at = _read_section(blob, at)
            fractions, at = _read_section(blob, at)
            counts, at = _read_section(blob, at)
            fps, at = _read_section(blob, at)
        except (struct.error, zlib.error, OSError, KeyError, EOFError) as exc:
            raise ValueError(f"not a bookmark table: {exc}") from None
        if not len(deltas) == len(offsets) == len(counts) == n or sum(counts) != len(fps):
            raise ValueError("not a bookmark table: columns disagree")
        table = cls()
        running = 0
        for i, delta in enumerate(deltas):
            running = (running + delta) if i else delta
            table.ids.append(running)
        table.keys = array("q", ((base + s) * 1_000_000 for s in offsets))
        for i in range(0, len(fractions), 2):
            table.keys[fractions[i]] += fractions[i + 1]
        total = 0
        for count in counts:
            total += count
            table.offsets.append(total)
        table.fps = array("I", fps)
        return table
