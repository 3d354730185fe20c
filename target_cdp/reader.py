"""Reading Singer messages fast (msgspec) while counting lines for error messages."""

from __future__ import annotations

import contextlib
import sys
import typing as t
from collections import Counter, defaultdict

import msgspec
from singer_sdk.singerlib.encoding import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine
from typing_extensions import override

_decode = msgspec.json.Decoder().decode  # floats stay floats: records are plain JSON values
_CHUNK = 1 << 20  # bytes read at a time


def _lines(stream: t.BinaryIO) -> t.Iterator[bytes]:
    """The lines of a binary stream, read 1 MiB at a time (at most: a pipe gives what it
    holds). Iterating the stream itself reads 8 KiB at a time, and each read lets the
    delivery threads take the interpreter lock, which the reader then waits to get back."""
    with contextlib.suppress(Exception):  # a pipe holding 1 MiB (Linux), not 64 KiB
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _CHUNK)
    read = getattr(stream, "read1", stream.read)
    parts: list[bytes] = []  # the start of a line the next chunk ends
    while chunk := read(_CHUNK):
        if b"\n" not in chunk:
            parts.append(chunk)
            continue
        lines = chunk.split(b"\n")
        if parts:
            parts.append(lines[0])
            lines[0] = b"".join(parts)
            parts = []
        last = lines.pop()
        if last:
            parts.append(last)
        yield from lines
    if parts:
        yield b"".join(parts)


class LineReader(GenericSingerReader[str]):
    """Like the SDK reader, but knows the current line number and never echoes a bad line."""

    default_input = sys.stdin

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.ended: t.Callable[[], None] = lambda: None
        """Called when the input ends, or reading it fails (before the error goes on): the
        target hands on the records it holds."""

    @override
    def deserialize_json(self, line: str | bytes) -> dict[str, t.Any]:
        try:
            message = _decode(line)
        except msgspec.DecodeError as exc:
            msg = f"line {self.line_number}: not valid JSON ({exc})"
            raise InvalidInputLine(msg) from None
        except RecursionError:
            msg = f"line {self.line_number}: JSON nested too deeply: treated as malformed input"
            raise InvalidInputLine(msg) from None
        if not isinstance(message, dict):
            msg = f"line {self.line_number}: a Singer message must be a JSON object"
            raise InvalidInputLine(msg)
        return message

    @override
    def process_lines(
        self,
        file_input: t.IO[str] | None,
        callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]],
    ) -> t.Counter[str]:
        stats: dict[str, int] = defaultdict(int)
        source: t.Iterable[str | bytes] = file_input or self.default_input
        buffer = getattr(source, "buffer", None)
        if buffer is not None:  # stdin: read bytes; msgspec decodes UTF-8 itself, faster
            source = _lines(buffer)
        try:
            self._read(source, callbacks, stats)
        except BaseException:
            self.ended()  # records read before the failure come first (their error wins)
            raise
        self.ended()
        return Counter(**stats)

    def _read(
        self,
        source: t.Iterable[str | bytes],
        callbacks: dict[str, t.Callable[[dict[str, t.Any]], None]],
        stats: dict[str, int],
    ) -> None:
        decode = _decode
        on_record, records = callbacks.get("RECORD"), 0  # the usual message, counted apart
        for line in source:
            self.line_number += 1
            try:  # `deserialize_json` inline: it runs once a message
                message = decode(line)
            except (msgspec.DecodeError, RecursionError):
                if not line.strip():
                    continue  # a blank line
                message = self.deserialize_json(line)  # raises the line's one error
            if type(message) is not dict:
                message = self.deserialize_json(line)  # raises the line's one error
            kind = message.get("type")
            if kind == "RECORD" and on_record is not None:
                on_record(message)
                records += 1
                continue
            if kind is None:
                msg = f"line {self.line_number}: message has no 'type'"
                raise InvalidInputLine(msg)
            callback = callbacks.get(kind)
            if callback is None:
                msg = f"line {self.line_number}: unknown message type {kind!r}"
                raise InvalidInputLine(msg)
            callback(message)
            stats[kind] += 1
        if records:
            stats["RECORD"] += records
