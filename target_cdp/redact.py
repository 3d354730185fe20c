"""One redaction helper for every output: logs, errors, dead letters, dry-run files."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"
_MIN_LENGTH = 4  # shorter values would mask innocent text and cannot be worth hiding


class Redactor:
    """Replaces every known secret value (and its URL-encoded forms) by `MASK`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Learn more secret values; longest first so a secret inside another is masked whole."""
        found = set(self._secrets)
        for value in secrets:
            if value is None:
                continue
            text = str(value)
            if len(text) < _MIN_LENGTH:
                continue
            found.update({text, quote(text, safe=""), quote_plus(text)})
        with self._lock:
            self._secrets = tuple(sorted(found, key=len, reverse=True))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def __call__(self, text: str) -> str:
        """`text` with every secret masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def basic_auth_variants(user: str, password: str) -> list[str]:
    """The values a basic-auth header derives from a key pair (to register as secrets)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [token, f"Basic {token}"]


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the message and any traceback text."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.redactor.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record as it is
            return True
        record.msg, record.args = self.redactor(message), ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redactor(text)
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
            record.exc_text = None
        return True


REDACTOR = Redactor()
"""The process-wide redactor: every target registers its secrets here."""


def install(redactor: Redactor = REDACTOR) -> None:
    """Attach a redacting filter to every handler of the root logger that lacks one."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))
