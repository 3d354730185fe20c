"""Dry run: write each request that would be sent as one JSON line, secrets masked."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from target_cdp.deadletter import utc_now
from target_cdp.jsontext import readable_json
from target_cdp.redact import MASK, REDACTOR, Redactor
from target_cdp.vendors.base import Call, ConfigError

_SECRET_WORDS = ("secret", "key", "token", "password", "sign")


def _mask_query(url: str, redactor: Redactor) -> str:
    """Mask query values that are secrets or whose names say they are."""
    parts = urlsplit(url)
    if not parts.query:
        return redactor(url)
    query = [
        (k, MASK if any(w in k.lower() for w in _SECRET_WORDS) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return redactor(urlunsplit(parts._replace(query=urlencode(query, safe="[]"))))


class DryRun:
    """Appends would-be requests to `path` (truncated when the run starts)."""

    def __init__(self, path: str | Path, redactor: Redactor = REDACTOR) -> None:
        self.path = Path(path)
        self.redactor = redactor
        self.count = 0
        self._lock = threading.Lock()
        try:
            if self.path.parent != Path():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] = self.path.open("w", encoding="utf-8")
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(f"`dry_run_path`: cannot write {self.path} ({reason})") from None

    def write(self, destination: str, route: str, call: Call, headers: dict[str, str]) -> None:
        """Record one request exactly as it would go out, minus its secrets."""
        sensitive = {h.lower() for h in call.sensitive_headers} | {"authorization"}
        shown = {k: MASK if k.lower() in sensitive else v for k, v in headers.items()}
        try:
            body: Any = json.loads(call.body) if call.body else None
        except ValueError:
            body = call.body.decode("utf-8", "replace")
        line = {
            "at": utc_now(),
            "destination": destination,
            "route": route,
            "label": call.label,
            "method": call.method,
            "url": _mask_query(call.url, self.redactor),
            "headers": shown,
            "body": body,
        }
        text = self.redactor(readable_json(line)) + "\n"
        with self._lock:
            self._file.write(text)
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()
