"""Secret redaction for every output of a plugin, whatever writes it.

`Redactor` masks every known secret value in its raw, URL-encoded and base64 forms.
A secret setting's schema may say which of its values are not secret (`secret_form`): the
words it takes for "off", or that only a URL's password is secret, so nothing is guessed.
`install_record_factory` makes every log record of the process pass through the process-wide
redactor when it is created, so a logging config that gives any logger its own handler
(`SINGER_SDK_LOG_CONFIG` giving `urllib3` a file handler, say) still never writes a secret.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "[REDACTED]"
# Schema keywords of a secret setting (see `secret_form`).
NOT_SECRET_WORDS = "x-not-secret-words"
SECRET_PART = "x-secret-part"
URL_PASSWORD = "url-password"
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


def secret_settings(
    schema: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Mapping[str, Any]]]:
    """`(path, schema)` of each setting a config JSON schema marks `secret` (nested too)."""
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, Mapping):
            continue
        if prop.get("secret") or prop.get("writeOnly"):
            yield (*prefix, name), prop
        if prop.get("properties"):
            yield from secret_settings(prop, (*prefix, name))


def secret_paths(schema: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The paths of the settings a config JSON schema marks `secret` (nested objects too)."""
    return [path for path, _ in secret_settings(schema, prefix)]


def secret_form(*, words: Iterable[str] = (), url_password: bool = False) -> dict[str, Any]:
    """Schema keywords for a secret setting (a `th.Property`'s extra arguments): `words` it
    takes that are not secrets (such as `none`, "off"), and whether only the password of its
    URL is secret (the rest names a host or a file an error message must be able to show)."""
    form: dict[str, Any] = {}
    if words:
        form[NOT_SECRET_WORDS] = sorted(w.lower() for w in words)
    if url_password:
        form[SECRET_PART] = URL_PASSWORD
    return form


def _url_password(value: str) -> list[str]:
    """The password of a URL (as written and decoded); all of it when it does not parse."""
    try:
        password = urlsplit(value).password
    except ValueError:
        return [value]
    return [password, unquote(password)] if password else []


def secret_values(schema: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Every value the config holds at a secret path, whatever its type, less what the
    setting's schema says is not secret (see `secret_form`)."""
    values: list[str] = []
    for path, prop in secret_settings(schema):
        node: Any = config
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is None:
            continue
        if not isinstance(node, str):
            values += [*_leaves(node), str(node)]
        elif node.strip().lower() in (prop.get(NOT_SECRET_WORDS) or ()):
            continue
        elif prop.get(SECRET_PART) == URL_PASSWORD:
            values += _url_password(node)
        else:
            values.append(node)
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


class _RedactingFactory:
    """A log record factory: the previous factory's records, secrets masked."""

    def __init__(self, previous: Callable[..., logging.LogRecord], redactor: Redactor) -> None:
        self.previous = previous
        self.redactor = redactor

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        if self.redactor.secrets:
            _redact_record(record, self.redactor)
        return record


_installed = threading.Lock()


def install_record_factory(redactor: Redactor = REDACTOR) -> None:
    """Redact every log record the process creates, before any handler sees it (idempotent)."""
    with _installed:
        current = logging.getLogRecordFactory()
        if isinstance(current, _RedactingFactory) and current.redactor is redactor:
            return
        logging.setLogRecordFactory(_RedactingFactory(current, redactor))
