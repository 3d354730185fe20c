"""Secret redaction for every output of a plugin, whatever writes it.

`Redactor` masks every known secret value in its raw, URL-encoded and base64 forms.
`install_record_factory` makes every log record of the process pass through the process-wide
redactor when it is created, so a logging config that gives any logger its own handler
(`SINGER_SDK_LOG_CONFIG` giving `urllib3` a file handler, say) still never writes a secret.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "[REDACTED]"
_MIN_LENGTH = 4  # shorter values would mask innocent text and cannot be worth hiding


def forms(text: str) -> set[str]:
    """The ways a secret shows up in output: raw, URL-encoded, base64."""
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return {text, quote(text, safe=""), quote_plus(text), encoded, encoded.rstrip("=")}


class Redactor:
    """Replaces every known secret value (and its encoded forms) by `MASK`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[Any]) -> None:
        """Learn more secret values; longest first so a secret inside another is masked whole."""
        found = set(self._secrets)
        for value in secrets:
            if value is None:
                continue
            text = str(value)
            if len(text) < _MIN_LENGTH:
                continue
            found.update(f for f in forms(text) if len(f) >= _MIN_LENGTH)
        with self._lock:
            self._secrets = tuple(sorted(found, key=len, reverse=True))

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def __call__(self, text: str) -> str:
        """`text` with every secret masked: the union of every place any secret occurs, so
        secrets that contain or overlap one another leave no fragment."""
        spans: list[tuple[int, int]] = []
        for secret in self._secrets:
            start = text.find(secret)
            while start != -1:
                spans.append((start, start + len(secret)))
                start = text.find(secret, start + 1)
        if not spans:
            return text
        spans.sort()
        out, position, end = [], 0, -1
        for start, stop in spans:
            if start > end:
                if end >= 0:
                    out.append(MASK)
                out.append(text[position:start])
                end = stop
            else:
                end = max(end, stop)
            position = end
        out.append(MASK)
        out.append(text[position:])
        return "".join(out)


def _leaves(value: Any) -> Iterator[str]:
    """Every scalar inside a value (a wrongly typed secret may be an object or a list)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def secret_paths(schema: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of the settings a config JSON schema marks `secret` (nested objects too)."""
    paths = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        if prop.get("secret") or prop.get("writeOnly"):
            paths.append((*prefix, name))
        if prop.get("properties"):
            paths += secret_paths(prop, (*prefix, name))
    return paths


def _url_secret(value: str) -> list[str]:
    """A URL-valued secret (such as `ledger_uri`) hides only its password: the rest names
    a host or a file an error message must be able to show."""
    try:
        password = urlsplit(value).password
    except ValueError:
        return [value]
    return [password, unquote(password)] if password else []


def secret_values(schema: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Every value the config holds at a secret path, whatever its type (of a URL, its
    password)."""
    values: list[str] = []
    for path in secret_paths(schema):
        node: Any = config
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            if isinstance(node, str):
                if node.strip().lower() == "none":  # a setting's "off" word (`ledger_uri`)
                    continue
                values += _url_secret(node) if "://" in node else [node]
            else:
                values += list(_leaves(node))
            if not isinstance(node, str):
                values.append(str(node))
    return values


REDACTOR = Redactor()
"""The process-wide redactor: each plugin registers its secrets here."""

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


def _redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Mask secrets in a record's message, exception text and string extras, in place."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: mask the template and arguments as text
        message = f"{record.msg} {record.args}"
    masked = redactor(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        masked = redactor(text)
        if masked != text:  # keep the masked text only; formatters print `exc_text`
            record.exc_text, record.exc_info = masked, None
    if record.stack_info:
        record.stack_info = redactor(record.stack_info)
    for key, value in record.__dict__.items():
        if key not in _STANDARD and isinstance(value, str):
            record.__dict__[key] = redactor(value)


class RedactingFilter(logging.Filter):
    """A handler filter masking secrets (kept for handlers added before the factory)."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor.secrets:
            _redact_record(record, self.redactor)
        return True


_installed = threading.Lock()


def install_record_factory(redactor: Redactor = REDACTOR) -> None:
    """Redact every log record the process creates, before any handler sees it (idempotent)."""
    with _installed:
        current = logging.getLogRecordFactory()
        if getattr(current, "redactor", None) is redactor:
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            if redactor.secrets:
                _redact_record(record, redactor)
            return record

        factory.redactor = redactor  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
