"""BATCH messages: the SDK reads the batch files, each record then goes the RECORD way.

A BATCH message (what an SDK tap writes with `batch_config`) names files of raw records:
JSONL, optionally gzip, on any path the SDK's storage supports (local or fsspec URLs). The
SDK's `Sink.process_batch_files` reads them; `CDPSink.process_batch` hands each file's
records to a callback. A file that cannot be read is one input error naming the line.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable

from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_cdp.sdk_seam import BaseBatchFileEncoding, batch_encoding
from target_cdp.sinks import CDPSink


class _RecordFailure(Exception):
    """Carries an error raised while processing the records, past the file-reading handler."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def consume_batch(
    message: dict[str, t.Any],
    line: int,
    sink: CDPSink,
    on_record: Callable[[dict[str, t.Any]], None],
) -> int:
    """Read every file of one BATCH message with `sink` and call `on_record` per record."""
    manifest = message.get("manifest")
    if not isinstance(manifest, list) or not isinstance(message.get("encoding"), dict):
        msg = f"line {line}: a BATCH message needs an 'encoding' object and a 'manifest' list"
        raise InvalidInputLine(msg)
    try:
        encoding = batch_encoding(message["encoding"])
    except TypeError as exc:
        msg = f"line {line}: BATCH encoding {message['encoding']!r} is not understood ({exc})"
        raise InvalidInputLine(msg) from None
    count = 0

    def feed(records: list[dict[str, t.Any]]) -> None:
        nonlocal count
        try:
            for record in records:
                on_record(record)
                count += 1
        except BaseException as exc:
            raise _RecordFailure(exc) from None

    for path in manifest:
        try:
            _read(sink, encoding, path, feed)
        except _RecordFailure as failure:
            raise failure.error from None
        except _READ_ERRORS as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            msg = f"line {line}: BATCH file {path} cannot be read ({reason})"
            raise InvalidInputLine(msg) from None
    return count


_READ_ERRORS = (OSError, ValueError, EOFError, NotImplementedError, ImportError)


def _read(
    sink: CDPSink,
    encoding: BaseBatchFileEncoding,
    path: str,
    feed: Callable[[list[dict[str, t.Any]]], None],
) -> None:
    """Read one file; a JSONL file said to be uncompressed is retried as gzip when that fails.

    The SDK's JSONL batcher writes gzip whatever `compression` its `batch_config` names (so
    tap-primedata with `compression: none` announces plain files that are gzip). The SDK reads
    a whole file before handing its records over, so a failed read delivered nothing.
    """
    try:
        sink.read_batch_files(encoding, [path], feed)
    except _READ_ERRORS:
        if encoding.format != "jsonl" or encoding.compression == "gzip":
            raise
        as_gzip = BaseBatchFileEncoding(format=encoding.format, compression="gzip")
        try:
            sink.read_batch_files(as_gzip, [path], feed)
        except _READ_ERRORS:
            pass
        else:
            return
        raise
