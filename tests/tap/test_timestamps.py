"""PrimeData timestamps in every documented spelling become RFC 3339 UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_primedata import timestamps as ts

UTC = timezone.utc


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("2023:01:01T20:00:00Z", "2023-01-01T20:00:00Z"),  # the vendor doc's three spellings
        ("2023-05-21T04:48:23Z", "2023-05-21T04:48:23Z"),
        ("2023-05-21T11:48:23", "2023-05-21T11:48:23Z"),
        ("2023-05-21T11:48:23+07:00", "2023-05-21T04:48:23Z"),
        ("2023-05-21T11:48:23+0700", "2023-05-21T04:48:23Z"),
        ("2023-05-21T01:48:23-03", "2023-05-21T04:48:23Z"),
        ("2023-05-21 04:48:23.250Z", "2023-05-21T04:48:23.25Z"),
        ("2023-05-21T04:48:23.000Z", "2023-05-21T04:48:23Z"),
        ("2023-05-21T04:48:23.1234567Z", "2023-05-21T04:48:23.123456Z"),
        ("2023-05-21", "2023-05-21T00:00:00Z"),
        ("2023:05:21T04:48", "2023-05-21T04:48:00Z"),
        (" 2023-12-31T23:59:59z ", "2023-12-31T23:59:59Z"),
        (1684644503, "2023-05-21T04:48:23Z"),
        (1684644503000, "2023-05-21T04:48:23Z"),
    ],
)
def test_examples(raw, want):
    assert ts.normalize(raw) == want


@pytest.mark.parametrize("zone", ["+07:00", "UTC+7", "Asia/Ho_Chi_Minh"])
def test_naive_timezone_setting(zone):
    tz = ts.make_timezone(zone)
    assert ts.normalize("2023-05-21T11:48:23", tz) == "2023-05-21T04:48:23Z"
    assert ts.normalize("2023-05-21T11:48:23Z", tz) == "2023-05-21T11:48:23Z"  # zoned: unchanged


@pytest.mark.parametrize("bad", ["", "yesterday", "2023-13-01", "2023-02-30T00:00:00Z", None, [1]])
def test_rejects_garbage(bad):
    with pytest.raises(ValueError):
        ts.normalize(bad)


moments = st.datetimes(
    min_value=datetime(1901, 1, 2), max_value=datetime(2098, 12, 30), timezones=st.just(UTC)
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60)


def spell(moment: datetime, offset_minutes: int, style: int, fraction: bool) -> str:
    """`moment` written in one of the vendor's spellings, at a UTC offset."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    date_sep = ":" if style == 0 else "-"
    text = local.strftime(f"%Y{date_sep}%m{date_sep}%dT%H:%M:%S")
    if fraction:
        text += f".{local.microsecond:06d}"
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    if style == 2 and offset_minutes == 0:
        return text  # naive = UTC
    if offset_minutes == 0 and style in (0, 1):
        return text + "Z"
    return text + f"{sign}{hours:02d}:{minutes:02d}"


@given(moments, offsets, st.sampled_from([0, 1, 2]), st.booleans())
def test_any_spelling_normalizes_to_the_same_instant(moment, offset, style, fraction):
    if not fraction:
        moment = moment.replace(microsecond=0)
    text, key = ts.normalize_with_key(spell(moment, offset, style, fraction))
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed == moment
    assert text.endswith("Z") and text[10] == "T" and len(text) in (20, *range(22, 28))
    assert key == ts.to_key(moment) and ts.from_key(key) == moment
    assert ts.normalize(text) == text  # idempotent


@given(moments, moments)
def test_keys_order_like_time(a, b):
    key_a, key_b = ts.to_key(a), ts.to_key(b)
    assert (key_a < key_b) == (a < b) and (key_a == key_b) == (a == b)


def _general(text: str) -> tuple[str, int] | None:
    try:
        dt = ts.parse(text)
    except ValueError:
        return None
    return ts.format_utc(dt), ts.to_key(dt)


@given(
    st.integers(1, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 60),
    st.sampled_from(["-", ":"]),
    st.sampled_from(["T", "t", " "]),
    st.sampled_from(["Z", "z", ""]),
)
def test_fast_path_agrees_with_the_general_parser(y, mo, d, h, mi, s, sep, t, z):
    text = f"{y:04d}{sep}{mo:02d}{sep}{d:02d}{t}{h:02d}:{mi:02d}:{s:02d}{z}"
    fast = ts._fast(text, UTC)
    assert fast is None or fast == _general(text)
    if _general(text) is None:
        with pytest.raises(ValueError):
            ts.normalize_with_key(text)
    else:
        assert ts.normalize_with_key(text) == _general(text)
