"""Dmartech's one-pass `preparer` gives what `fields` + `prepare` give, item or error, for
whatever record: the fast path of event routes with `fields` and of plain `user` routes."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from target_cdp.convert import RecordError
from target_cdp.ledger.digest import fingerprint
from target_cdp.routes import Route
from target_cdp.vendors.base import Destination
from target_cdp.vendors.dmartech import Dmartech, DmartechItem

DEST = Dmartech({"api_url": "http://x", "secret": "s", "primary_keys": ["user_id", "email"]})
EVENT_FIELDS = {
    "user_id": "profile_id",
    "event_id": "id",
    "create_time": "time_stamp",
    "full_name": "properties.full_name",
    "email": "properties.email",
    "deep": "properties.nested.value",
    "dotted": "a.b",
    "name": "event_name",
    "_sdc_x": "sdc",
}
ROUTES = [
    Route.from_config({"stream": "events", "destination": "dmartech", "type": "event",
                       "event_name_property": "event_name", "event_id_property": "id",
                       "create_time_property": "time_stamp", "fields": EVENT_FIELDS}),
    Route.from_config({"stream": "events", "destination": "dmartech", "type": "event",
                       "event_name": " Fixed ", "fields": {"user_id": "profile_id",
                       "event_id": "event_id", "create_time": "create_time", "x": "x"}}),
    Route.from_config({"stream": "users", "destination": "dmartech", "type": "user"}),
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(["", " ", "x", " id-1 ", "2024-01-02T03:04:05Z", "2024-01-02 03:04:05+07:00",
                     "2024-13-02T03:04:05Z", "a-long-string-not-a-date", "u1@example.com"]),
)  # fmt: skip
names = st.sampled_from(["full_name", "email", "nested", "value", "b"])
values = st.recursive(
    scalars, lambda inner: st.dictionaries(names, inner, max_size=3), max_leaves=6
)
records = st.dictionaries(
    st.sampled_from(["profile_id", "id", "event_id", "time_stamp", "create_time", "event_name",
                     "properties", "a", "a.b", "sdc", "x", "user_id", "email", "_sdc_deleted_at"]),
    values,
    max_size=10,
)  # fmt: skip


def outcome(prepare: Any, record: dict[str, Any]) -> Any:
    try:
        return prepare(dict(record))
    except RecordError as exc:
        return (exc.code, exc.message)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ROUTES), records)
def test_the_one_pass_preparer_equals_fields_then_prepare(route, record):
    fast = DEST.preparer(route)
    generic = Destination.preparer(DEST, route)
    assert fast is not generic
    assert outcome(fast, record) == outcome(generic, record)


def test_an_items_fingerprint_is_the_one_earlier_versions_stored():
    """The ledger compares fingerprints across runs (and releases): an item is hashed as the
    JSON `{"type", "properties" (keys sorted), "event"}`, whatever class holds it."""
    item = DmartechItem("user", {"email": "a@example.com", "city": "Hanoi", "n": [2, {"b": 1}]})
    text = b'{"type":"user","properties":{"city":"Hanoi","email":"a@example.com","n":[2,{"b":1}]},"event":null}'  # noqa: E501
    assert fingerprint(item) == hashlib.blake2b(text, digest_size=16).hexdigest()
    event = DmartechItem("event", {"event_id": "e1"}, "PageView")
    text = b'{"type":"event","properties":{"event_id":"e1"},"event":"PageView"}'
    assert fingerprint(event) == hashlib.blake2b(text, digest_size=16).hexdigest()
