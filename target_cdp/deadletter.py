"""The dead-letter file: one JSON line per rejected record, written at once, secrets masked."""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from target_cdp.redact import REDACTOR, Redactor


def utc_now() -> str:
    """RFC 3339 UTC, to the millisecond."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 kept readable, anything unusual as its string."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


class DeadLetters:
    """Appends rejected records to `path` (opened on the first rejection), thread-safe."""

    def __init__(self, path: str | Path, redactor: Redactor = REDACTOR) -> None:
        self.path = Path(path)
        self.redactor = redactor
        self.count = 0
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

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
                dumps(
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
        with self._lock:
            if self._file is None:
                if self.path.parent != Path():
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.writelines(lines)
            self._file.flush()
            self.count += len(lines)
        return len(lines)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
