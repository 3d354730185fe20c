"""Singer output: msgspec-encoded and written in large chunks, flushed at every STATE.

The SDK writes and flushes stdout after every message. With worker threads holding the
GIL, each of those system calls costs the writing thread a GIL hand-off, which caps the
record rate. Here RECORD messages collect in memory (up to `FLUSH_BYTES`) and everything
pending is written, in order, before any other message goes out, so a target never sees a
STATE ahead of the records it covers; records after the last STATE may be lost on a crash,
and the next run reads them again.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import SingerMessageType
from singer_sdk.singerlib.encoding.simple import Message

from tap_primedata.sdk_seam import sdk_record_encoder

FLUSH_BYTES = 1 << 20


class BufferedMsgSpecWriter(MsgSpecWriter):
    """`MsgSpecWriter` that batches RECORD messages until the next other message."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        self._scratch = bytearray(512)  # one message, encoded before it joins _pending

    def write_message(self, message: Message) -> None:
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= FLUSH_BYTES:
            self.flush()

    def write_record(
        self, stream: str, record: dict[str, Any], time_extracted: datetime, version: Any = None
    ) -> None:
        """A RECORD line as `RecordMessage.to_dict()` would give, without the message object."""
        message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = time_extracted
        sdk_record_encoder.encode_into(message, self._scratch)
        self._pending += self._scratch
        self._pending += b"\n"
        if len(self._pending) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write out everything pending."""
        if self._pending:
            sys.stdout.buffer.write(self._pending)
            self._pending.clear()
        sys.stdout.flush()
