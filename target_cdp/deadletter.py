"""The dead-letter file: one JSON line per rejected record, written at once, secrets masked.

Lines are written whole or not at all: a write that fails (disk full, file unwritable)
is cut back to the last complete line and raises `DeadLetterUnwritable`, naming the setting.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from target_cdp.jsontext import readable_json
from target_cdp.redact import REDACTOR, Redactor


def utc_now() -> str:
    """RFC 3339 UTC, to the millisecond."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DeadLetterUnwritable(Exception):
    """The dead-letter file cannot be written: the run must stop (nothing may be lost)."""


class DeadLetters:
    """Appends rejected records to `path` (opened on the first rejection), thread-safe."""

    def __init__(self, path: str | Path, redactor: Redactor = REDACTOR) -> None:
        self.path = Path(path)
        self.redactor = redactor
        self.count = 0
        self._lock = threading.Lock()
        self._file: Any = None  # an unbuffered binary file: a failed write is undone whole

    def write(
        self,
        stream: str,
        destination: str,
        route_type: str,
        records: Iterable[dict[str, Any]],
        code: str,
        message: str,
    ) -> int:
        """Write one line per record, all with the same error; flushed before returning."""
        at = utc_now()
        error = {"code": str(code), "message": self.redactor(str(message))}
        lines = [
            self.redactor(
                readable_json(
                    {
                        "stream": stream,
                        "destination": destination,
                        "type": route_type,
                        "record": record,
                        "error": error,
                        "at": at,
                    }
                )
            )
            + "\n"
            for record in records
        ]
        if not lines:
            return 0
        data = "".join(lines).encode("utf-8")
        with self._lock:
            try:
                self._append(data)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                msg = (
                    f"cannot write the dead-letter file {self.path} ({reason}): "
                    "check the `dead_letter_path` setting and the disk"
                )
                raise DeadLetterUnwritable(msg) from None
            self.count += len(lines)
        return len(lines)

    def _append(self, data: bytes) -> None:
        """Append `data` whole; on failure cut the file back to where it was."""
        if self._file is None:
            if self.path.parent != Path():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115
        start = self._file.seek(0, 2)
        try:
            view = memoryview(data)
            while view:
                written = self._file.write(view)
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):
                self._file.truncate(start)
            raise

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
