"""Value conversions shared by the destinations, and the checks that raise `RecordError`.

Records reach a destination as JSON values (the target decodes each input line itself; a
stream map may add other Python values). Every function here takes the destination field name
so its error message names it, on one line, without echoing long values. A naive datetime is
UTC everywhere in this project.

How a date-time is written is the vendor's choice: `plain`, `payload`, `dumps` and `json_text`
leave strings as they are unless given a `DateTimeFormat` (e.g. `datetime_text`, Dmartech's and
EngageLab's `YYYY-MM-DD HH:MM:SS`), which then rewrites ISO 8601 date-time strings too.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec

from target_cdp.routes import dotted_get

# An ISO 8601 date-time as a string: the only strings `plain` rewrites.
_ISO_DATETIME_RE = re.compile(
    r"\d{4}[-:]\d{2}[-:]\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})?"
)
_COLON_DATE_RE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})(?=[T ]|$)")
_FRACTION_RE = re.compile(r"(\.\d{6})\d+")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ENCODER = msgspec.json.Encoder()
_MS_THRESHOLD = 10**11  # epoch numbers at or above this are milliseconds (after 1973-03-03)

DateTimeFormat = Callable[[Any, str], str]
"""How a vendor writes a date-time: `(value, field) -> text`, raising `RecordError`."""


class RecordError(Exception):
    """A record that can never be valid for its route; its message names the field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def shown(value: Any, width: int = 40) -> str:
    """A short repr of a value for an error message."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def is_empty(value: Any) -> bool:
    """None, a blank string, or an empty list or object."""
    if value is None:
        return True
    kind = type(value)
    if kind is str:
        return not value or value.isspace()
    if kind is int or kind is bool or kind is float:
        return False
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict) and not value


# date-times ------------------------------------------------------------------------
def parse_datetime(value: Any, field: str) -> datetime:
    """An aware UTC datetime from a datetime, date, epoch number (s or ms) or ISO 8601 string."""
    try:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError(value)
            parsed = _iso_datetime(value) or _iso_datetime_loose(value)
        elif isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            parsed = datetime.combine(value, time())
        elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            if not number.is_finite():
                raise ValueError(value)
            micros = number * (1000 if abs(number) >= _MS_THRESHOLD else 1_000_000)
            parsed = _EPOCH + timedelta(microseconds=int(micros))
        else:
            raise ValueError(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError, ArithmeticError) as exc:
        raise RecordError(
            "invalid_datetime", f"{field}: {shown(value)} is not a date-time"
        ) from exc


def _iso_datetime(value: str) -> datetime | None:
    """The C parser on the usual RFC 3339 spellings; None when it does not take them."""
    if len(value) < 19 or value[4] != "-" or value[10] not in "T ":
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _iso_datetime_loose(value: str) -> datetime:
    """`YYYY:MM:DD` dates, `z`, more than six fraction digits, surrounding blanks."""
    text = _COLON_DATE_RE.sub(r"\1-\2-\3", value.strip())
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(_FRACTION_RE.sub(r"\1", text))


def _utc_seconds(value: str) -> bool:
    """True for `YYYY-MM-DDTHH:MM:SSZ` with ASCII digits (what tap-primedata sends)."""
    if len(value) != 20 or value[19] != "Z" or value[10] != "T" or not value.isascii():
        return False
    if value[4] != "-" or value[7] != "-" or value[13] != ":" or value[16] != ":":
        return False
    try:
        datetime.fromisoformat(value[:19])  # the digits, and a real date and time
    except ValueError:
        return False
    return True


def datetime_text(value: Any, field: str) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC (Dmartech `create_time`, EngageLab datetime properties)."""
    if type(value) is str and _utc_seconds(value):
        return f"{value[:10]} {value[11:19]}"
    parsed = parse_datetime(value, field)
    if not 1 <= parsed.year <= 9999:
        raise RecordError("invalid_datetime", f"{field}: {shown(value)} is out of range")
    return (
        f"{parsed.year:04d}-{parsed.month:02d}-{parsed.day:02d} "
        f"{parsed.hour:02d}:{parsed.minute:02d}:{parsed.second:02d}"
    )


def epoch_ms(value: Any, field: str) -> int:
    """Milliseconds since the epoch (EngageLab `itime`)."""
    parsed = parse_datetime(value, field)
    return (parsed - _EPOCH) // timedelta(milliseconds=1)


def date_text(value: Any, field: str) -> str:
    """`yyyy-MM-dd` (NXCloud `birthday`): the calendar date as written, not shifted to UTC."""
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}(?!\d)", value.strip()):
        try:
            day = date.fromisoformat(value.strip()[:10])
        except ValueError as exc:
            raise RecordError("invalid_date", f"{field}: {shown(value)} is not a date") from exc
    else:
        raise RecordError("invalid_date", f"{field}: {shown(value)} is not a date")
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


# scalars and JSON ------------------------------------------------------------------
def plain(value: Any, datetimes: DateTimeFormat | None = None) -> Any:
    """A JSON-native copy: Decimals to numbers, dates to `yyyy-MM-dd`, tuples to lists; with
    `datetimes`, datetimes and ISO date-time strings written by it (else ISO 8601 as they are)."""
    kind = type(value)
    if kind is str:
        return value if datetimes is None else _plain_str(value, datetimes)
    if value is None or kind is int or kind is bool:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): plain(v, datetimes) for k, v in value.items()}
    if kind is list:
        return [plain(v, datetimes) for v in value]
    return _plain_other(value, datetimes)


def _plain_str(value: str, datetimes: DateTimeFormat) -> str:
    """An ISO date-time string written by `datetimes`; any other string as it is."""
    if len(value) < 16 or value[4] not in "-:" or value[10] not in "T ":
        return value  # cannot be a date-time: skip the regular expression
    utc_seconds = _utc_seconds(value)  # the usual spelling: no regular expression
    if utc_seconds and datetimes is datetime_text:
        return f"{value[:10]} {value[11:19]}"
    if utc_seconds or _ISO_DATETIME_RE.fullmatch(value):
        try:
            return datetimes(value, "value")
        except RecordError:
            return value
    return value


plain_str = _plain_str
"""`plain` for a string, given a `DateTimeFormat` (for a vendor's own `payload` pass)."""


def _plain_other(value: Any, datetimes: DateTimeFormat | None) -> Any:
    """`plain` for the types JSON parsing does not produce (and subclasses)."""
    if isinstance(value, str):
        return str(value) if datetimes is None else _plain_str(str(value), datetimes)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, Decimal):
        if value.is_finite() and value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat() if datetimes is None else datetimes(value, "value")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v, datetimes) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, datetimes) for v in value]
    return str(value)


def text(value: Any, field: str) -> str:
    """A string: numbers without exponent or `.0`, booleans `true`/`false`, objects as JSON."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        number = Decimal(str(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise RecordError("invalid_value", f"{field}: {shown(value)} is not a finite number")
        if number == number.to_integral_value():
            return str(int(number))
        return format(number, "f").rstrip("0")  # exact: normalize() would round
    if isinstance(value, datetime):
        return datetime_text(value, field)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return json_text(value, field)
    raise RecordError("invalid_value", f"{field}: {type(value).__name__} is not a text value")


def dumps(value: Any, datetimes: DateTimeFormat | None = None) -> bytes:
    """Compact UTF-8 JSON (not \\u-escaped): the bytes a request body is sent (and signed) as."""
    return encode(plain(value, datetimes))


def encode(value: Any) -> bytes:
    """`dumps` for a value that is already `plain` (one pass less over a large body)."""
    try:
        return _ENCODER.encode(value)
    except (msgspec.EncodeError, OverflowError, TypeError):  # e.g. an integer over 64 bits
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_text(value: Any, field: str, datetimes: DateTimeFormat | None = None) -> str:
    """A JSON document as a string; a string must already be valid JSON."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError as exc:
            raise RecordError("invalid_json", f"{field}: not a JSON string") from exc
        return value
    return dumps(value, datetimes).decode("utf-8")


def check_length(field: str, value: str, limit: int, vendor: str) -> str:
    """`value` if at most `limit` characters, else RecordError naming the field and the limit."""
    if len(value) > limit:
        raise RecordError("too_long", f"{field}: {len(value)} characters, {vendor} allows {limit}")
    return value


# records ---------------------------------------------------------------------------
def pick(values: Mapping[str, Any], record: Mapping[str, Any], name: str) -> Any:
    """`name` from the mapped values, else from the record (a dotted path allowed)."""
    if name in values:
        return values[name]
    if name in record:
        return record[name]
    return dotted_get(record, name) if "." in name else None


def event_name(
    options: Mapping[str, Any], values: Mapping[str, Any], record: Mapping[str, Any]
) -> tuple[str, str | None]:
    """An event's name: the route's fixed `event_name`, else the field `event_name_property`
    (default `event_name`) names; with that field, None for a fixed name."""
    name_field = options.get("event_name_property") or "event_name"
    fixed = options.get("event_name")
    name = fixed or pick(values, record, name_field)
    if is_empty(name) or not isinstance(name, str | int):
        raise RecordError("missing_event_name", f"{name_field}: no event name")
    return str(name).strip(), None if fixed else name_field


_PLAIN_KEYS: set[str] = set()  # keys seen in payloads that are not `_sdc_*` metadata
_PLAIN_KEYS_MAX = 10_000


def payload(
    values: Mapping[str, Any], drop: tuple[str, ...] = (), datetimes: DateTimeFormat | None = None
) -> dict[str, Any]:
    """Record values to send: no `_sdc_*` metadata, no names in `drop`, no empty values;
    date-times written by `datetimes` when given."""
    if not _PLAIN_KEYS.issuperset(values):  # a key not seen before: maybe `_sdc_*` metadata
        values = {k: v for k, v in values.items() if not (k[:1] == "_" and k.startswith("_sdc_"))}
        if len(_PLAIN_KEYS) < _PLAIN_KEYS_MAX:
            _PLAIN_KEYS.update(values)
    if drop:
        values = {key: value for key, value in values.items() if key not in drop}
    out: dict[str, Any] = {}
    for key, value in values.items():  # per record and field: as few steps as can be
        kind = type(value)
        if kind is str:  # blank is empty; shorter than 16, or no `-`/`:` 5th, no date-time
            if value and not value.isspace():
                out[key] = (
                    value
                    if len(value) < 16 or datetimes is None or value[4] not in "-:"
                    else _plain_str(value, datetimes)
                )
        elif kind is int or kind is bool:
            out[key] = value
        elif value is not None and not is_empty(value):
            out[key] = plain(value, datetimes)
    return out
