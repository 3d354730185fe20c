"""Property tests for the shared conversions and the vendors' length limits."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdp_common import http
from target_cdp import convert
from target_cdp.routes import Route, dotted_get
from target_cdp.vendors.base import RecordError
from target_cdp.vendors.engagelab import EngageLab
from target_cdp.vendors.nxcloud import TEXT_LIMITS, NXCloud

UTC = timezone.utc
aware = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones()
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


def _fmt(value: datetime) -> str:
    u = value.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d} {u.hour:02d}:{u.minute:02d}:{u.second:02d}"


class TestDatetimes:
    @given(aware)
    def test_datetime_text_is_utc_seconds(self, value: datetime) -> None:
        text = convert.datetime_text(value, "t")
        assert text == _fmt(value)
        back = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert timedelta(0) <= value - back < timedelta(seconds=1)

    @given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 1, 1)), offsets)
    def test_iso_strings_equal_datetimes(self, naive: datetime, tz: timezone) -> None:
        value = naive.replace(tzinfo=tz)
        assert convert.datetime_text(value.isoformat(), "t") == _fmt(value)
        utc = value.astimezone(UTC).replace(tzinfo=None).isoformat()
        assert convert.datetime_text(utc + "Z", "t") == _fmt(value)
        assert convert.datetime_text(utc, "t") == _fmt(value)  # naive means UTC
        rfc = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # the sliced fast path
        assert convert.datetime_text(rfc, "t") == _fmt(value)

    @given(aware)
    def test_epoch_ms_matches_timestamp(self, value: datetime) -> None:
        ms = convert.epoch_ms(value, "t")
        assert ms == (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
        if ms >= 10**11:  # numbers this large (after 1973-03-03) are milliseconds
            assert convert.epoch_ms(ms, "t") == ms
            assert convert.epoch_ms(Decimal(ms), "t") == ms

    @given(st.integers(min_value=0, max_value=10**11 - 1))
    def test_small_numbers_are_seconds(self, seconds: int) -> None:
        assert convert.epoch_ms(seconds, "t") == seconds * 1000

    @given(st.dates(min_value=date(1, 1, 1)))
    def test_date_text(self, day: date) -> None:
        text = convert.date_text(day, "birthday")
        assert date.fromisoformat(text) == day
        assert convert.date_text(text, "birthday") == text
        assert convert.date_text(datetime.combine(day, datetime.min.time()), "b") == text

    def test_prime_data_spellings(self) -> None:
        for text in ("2023:01:01T20:00:00Z", "2023-01-01T20:00:00Z", "2023-01-01T20:00:00"):
            assert convert.datetime_text(text, "t") == "2023-01-01 20:00:00"
        assert convert.datetime_text("2023-01-02T03:00:00+07:00", "t") == "2023-01-01 20:00:00"
        assert convert.datetime_text("2023-01-01T20:00:00.123456789Z", "t") == "2023-01-01 20:00:00"

    @pytest.mark.parametrize(
        "bad", ["", "   ", "yesterday", "2023-13-01T00:00:00Z", [], {}, True, None]
    )
    def test_bad_values_name_the_field(self, bad: object) -> None:
        with pytest.raises(RecordError) as err:
            convert.datetime_text(bad, "created_at")
        assert err.value.message.startswith("created_at: ")
        with pytest.raises(RecordError, match=r"^birthday: "):
            convert.date_text("12/04/1976" if bad == "" else bad, "birthday")


class TestValues:
    @given(st.integers())
    def test_integers_as_text(self, n: int) -> None:
        assert convert.text(n, "f") == str(n)
        assert convert.text(Decimal(n), "f") == str(n)
        assert convert.text(Decimal(f"{n}.0"), "f") == str(n)

    @given(st.decimals(allow_nan=False, allow_infinity=False, places=4))
    def test_decimals_as_text_keep_their_value(self, d: Decimal) -> None:
        text = convert.text(d, "f")
        assert "E" not in text.upper() and Decimal(text) == d

    @given(json_values)
    def test_dumps_is_compact_utf8_json(self, value: object) -> None:
        body = convert.dumps(value)
        assert json.loads(body) == value
        assert b"\\u" not in body or "\\u" in json.dumps(value, ensure_ascii=False)
        assert body == json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()

    @given(st.dictionaries(st.text(max_size=5), json_values, max_size=4))
    def test_json_text_round_trips(self, value: dict) -> None:
        text = convert.json_text(value, "customize_field")
        assert json.loads(text) == value
        assert convert.json_text(text, "customize_field") == text

    def test_json_text_refuses_a_non_json_string(self) -> None:
        with pytest.raises(RecordError, match=r"^customize_field: not a JSON string$"):
            convert.json_text("{oops", "customize_field")

    def test_plain_makes_values_json_native_and_dates_in_the_vendor_format(self) -> None:
        value = {
            "n": Decimal("2.5"),
            "i": Decimal("3"),
            "at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            "day": date(2024, 1, 2),
            "iso": "2024-01-02T03:04:05Z",
            "not_a_time": "2024-01-02 is a date",
            "nested": [{"at": "2024-01-02T10:04:05+07:00"}],
        }
        assert convert.plain(value)["iso"] == "2024-01-02T03:04:05Z"  # no format: as written
        assert convert.plain(value, convert.datetime_text) == {
            "n": 2.5,
            "i": 3,
            "at": "2024-01-02 03:04:05",
            "day": "2024-01-02",
            "iso": "2024-01-02 03:04:05",
            "not_a_time": "2024-01-02 is a date",
            "nested": [{"at": "2024-01-02 03:04:05"}],
        }

    @given(json_values)
    def test_is_empty(self, value: object) -> None:
        expected = (
            value is None or value in ("", [], {}) or (isinstance(value, str) and not value.strip())
        )
        assert convert.is_empty(value) == expected

    def test_retry_after(self) -> None:
        assert http.retry_after({"Retry-After": "3"}) == 3.0
        assert http.retry_after({"retry-after": "0.5"}) == 0.5
        assert http.retry_after({}) is None
        assert http.retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
        assert http.retry_after({"Retry-After": "soon"}) is None


class TestLimits:
    @given(st.text(max_size=80), st.integers(min_value=0, max_value=60))
    def test_check_length(self, value: str, limit: int) -> None:
        if len(value) <= limit:
            assert convert.check_length("email", value, limit, "nxcloud") == value
            return
        with pytest.raises(RecordError) as err:
            convert.check_length("email", value, limit, "nxcloud")
        assert err.value.code == "too_long"
        assert err.value.message == f"email: {len(value)} characters, nxcloud allows {limit}"

    @given(
        st.sampled_from(sorted(k for k, v in TEXT_LIMITS.items() if v)),
        st.text(alphabet="abcé牛 1", min_size=1, max_size=300).filter(lambda s: s.strip() == s),
    )
    def test_nxcloud_fields(self, field: str, value: str) -> None:
        dest = NXCloud({"access_key": "k", "access_secret": "s", "tenant_id": 1, "app_key": "a"})
        record = {"first_name": "A", "last_name": "B", field: value}
        limit = TEXT_LIMITS[field]
        route = Route("s", "nxcloud", "customer")
        if len(value) <= limit:
            assert dest.prepare(route, record, record)[field] == value
        else:
            with pytest.raises(RecordError) as err:
                dest.prepare(route, record, record)
            assert err.value.message == f"{field}: {len(value)} characters, nxcloud allows {limit}"
            assert "\n" not in err.value.message

    @given(st.text(alphabet="ab牛", min_size=1, max_size=400))
    def test_engagelab_identity(self, value: str) -> None:
        dest = EngageLab({"api_key": "k", "api_secret": "s"})
        route = Route("s", "engagelab", "user")
        record = {"user_id": value}
        if len(value) <= 256:
            assert dest.prepare(route, record, record).identity == value
        else:
            with pytest.raises(RecordError, match=f"^user_id: {len(value)} characters"):
                dest.prepare(route, record, record)


_keys = st.sampled_from(["a", "b", "a.b", "0", "1"])
_json = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=8,
)


@given(_json)
def test_plain_and_dumps_round_trip_json_values(value):
    assert json.loads(convert.dumps(value)) == convert.plain(value)


_LONG = st.sampled_from(
    ["2024-01-02T03:04:05Z", "2024-01-02 03:04:05", "2024-01-02T03:04:05+07:00",
     "user0@example.com", "2024:01:02T03:04:05Z", "x" * 20, " " * 17]
)  # fmt: skip


@given(
    st.dictionaries(st.sampled_from(["a", "_sdc_x", "b", " ", "t", "_s", "new"]),
                    _json | st.just(" ") | _LONG),
    st.sampled_from([(), ("b",), ("b", "t")]),
    st.sampled_from([None, convert.datetime_text]),
)  # fmt: skip
def test_payload_drops_empty_and_metadata_and_plains_the_rest(values, drop, datetimes):
    want = {
        k: convert.plain(v, datetimes)
        for k, v in values.items()
        if not k.startswith("_sdc_") and k not in drop and not convert.is_empty(v)
    }
    assert convert.payload(values, drop=drop, datetimes=datetimes) == want


@given(st.dictionaries(_keys, _json, max_size=4), st.lists(_keys, min_size=1, max_size=3))
def test_route_fields_read_like_dotted_get(record, parts):
    path = ".".join(parts)
    route = Route.from_config(
        {"stream": "s", "destination": "dmartech", "type": "user", "fields": {"out": path}}
    )
    missing = object()
    want = dotted_get(record, path, missing)
    assert route.project(record) == ({} if want is missing else {"out": want})
