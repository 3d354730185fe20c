"""PrimeData timestamps, in whatever shape the API sends them, as RFC 3339 UTC.

The vendor's documents mix `"2023:01:01T20:00:00Z"` (colons in the date),
`"2023-05-21T04:48:23Z"` and `"2023-05-21T11:48:23"` (no zone). All of these, plus
offsets (`+07:00`, `+0700`, `+07`), fractional seconds, a space instead of `T`, bare
dates and epoch numbers, parse here. A time without a zone is read in `naive_tz`
(UTC unless configured; the vendor doc hints it may be UTC+7).

Output is `YYYY-MM-DDTHH:MM:SSZ`, with `.ffffff` (trailing zeros dropped, at most six
digits) only when the input had a non-zero fraction.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)

_PATTERN = re.compile(
    r"""\s*
    (?P<y>\d{4})[-:/]?(?P<mo>\d{2})[-:/]?(?P<d>\d{2})
    (?:[Tt\ ](?P<h>\d{2}):?(?P<mi>\d{2})(?::?(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?)?
    \s*(?P<z>[Zz]|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?\s*""",
    re.VERBOSE,
)


def make_timezone(name: str | None) -> tzinfo:
    """A tzinfo from "UTC", an offset like "+07:00" or an IANA name like "Asia/Bangkok"."""
    if not name or name.upper() in {"UTC", "Z", "GMT"}:
        return UTC
    offset = re.fullmatch(r"(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?", name.strip())
    if offset:
        sign = -1 if offset.group(1) == "-" else 1
        minutes = int(offset.group(2)) * 60 + int(offset.group(3) or 0)
        return timezone(sign * timedelta(minutes=minutes))
    return ZoneInfo(name)


def _zone(text: str | None, naive_tz: tzinfo) -> tzinfo:
    if text is None:
        return naive_tz
    if text in {"Z", "z", "UTC", "GMT"}:
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
    return timezone(sign * timedelta(minutes=minutes))


def parse(value: object, naive_tz: tzinfo = UTC) -> datetime:
    """Parse a PrimeData timestamp into an aware UTC datetime (ValueError when unparseable)."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=naive_tz)
        return dt.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=naive_tz).astimezone(UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value  # epoch ms or s
        return EPOCH + timedelta(seconds=seconds)
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    match = _PATTERN.fullmatch(value)
    if match is None:
        raise ValueError(f"not a timestamp: {value!r}")
    g = match.groupdict()
    fraction = (g["f"] or "")[:6].ljust(6, "0")
    dt = datetime(
        int(g["y"]), int(g["mo"]), int(g["d"]),
        int(g["h"] or 0), int(g["mi"] or 0), int(g["s"] or 0), int(fraction),
        tzinfo=_zone(g["z"], naive_tz),
    )  # fmt: skip
    return dt.astimezone(UTC)


def format_utc(dt: datetime) -> str:
    """RFC 3339 UTC: `YYYY-MM-DDTHH:MM:SSZ`, or with the fraction when it is not zero."""
    dt = dt.astimezone(UTC) if dt.tzinfo else dt
    text = (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    )
    if dt.microsecond:
        text += "." + f"{dt.microsecond:06d}".rstrip("0")
    return text + "Z"


def to_key(dt: datetime) -> int:
    """Microseconds since the epoch: an integer that orders timestamps exactly."""
    return (dt - EPOCH) // _ONE_US


def from_key(key: int) -> datetime:
    """The inverse of `to_key`."""
    return EPOCH + timedelta(microseconds=key)


def normalize(value: object, naive_tz: tzinfo = UTC) -> str:
    """Any accepted timestamp as RFC 3339 UTC."""
    return normalize_with_key(value, naive_tz)[0]


_EPOCH_NAIVE = datetime(1970, 1, 1)
_from_iso = datetime.fromisoformat


def _fast(value: str, naive_tz: tzinfo) -> tuple[str, int] | None:
    """The common spellings (`YYYY-MM-DDTHH:MM:SS` or with `:` in the date, `Z` or naive
    read as UTC) through the C ISO parser; None for anything else."""
    n = len(value)
    if n == 20:
        if value[19] not in "Zz":
            return None
    elif n != 19 or naive_tz is not UTC:
        return None
    canonical = value[4] == "-" and value[7] == "-" and value[10] == "T"
    if canonical:
        iso = value[:19]
    elif value[4] in "-:" and value[7] == value[4] and value[10] in "Tt ":
        iso = f"{value[0:4]}-{value[5:7]}-{value[8:10]}T{value[11:19]}"
    else:
        return None
    if value[13] != ":" or value[16] != ":" or value[11:13] == "24" or not iso.isascii():
        return None  # (newer Pythons read hour 24 as the next midnight; the general parser not)
    try:
        dt = _from_iso(iso)
    except ValueError:
        return None
    key = (dt - _EPOCH_NAIVE) // _ONE_US
    if canonical and n == 20 and value[19] == "Z":
        return value, key  # already RFC 3339 UTC
    return iso + "Z", key


def normalize_with_key(value: object, naive_tz: tzinfo = UTC) -> tuple[str, int]:
    """`(RFC 3339 UTC text, ordering key)` of a timestamp, parsed once."""
    if isinstance(value, str):
        fast = _fast(value, naive_tz)
        if fast is not None:
            return fast
    dt = parse(value, naive_tz)
    return format_utc(dt), to_key(dt)
