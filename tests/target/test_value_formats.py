"""How a date-time is written is each vendor's choice (`DATETIME` in its module), applied to
what it sends as a date-time, never to text it sends as written."""

from __future__ import annotations

import json

from target_cdp.routes import Route
from target_cdp.vendors.dmartech import Dmartech
from target_cdp.vendors.engagelab import EngageLab
from target_cdp.vendors.nxcloud import NXCloud

AT = "2024-05-01T10:00:00+02:00"
SHOWN = "2024-05-01 08:00:00"  # Dmartech's and EngageLab's YYYY-MM-DD HH:MM:SS, in UTC


def test_dmartech_writes_date_time_properties_in_its_format():
    dest = Dmartech({"api_url": "https://d.example", "secret": "s"})
    item = dest.prepare(Route("p", "dmartech", "user"), {"mobile": "1", "joined": AT}, {})
    assert item.properties == {"mobile": "1", "joined": SHOWN}


def test_engagelab_writes_date_time_properties_in_its_format_and_keeps_identities_as_written():
    dest = EngageLab({"api_key": "k", "api_secret": "s"})
    route = Route("p", "engagelab", "user", options={"identity_property": "uid"})
    user = dest.prepare(route, {"uid": AT, "email": "a@b.example", "joined": AT}, {})
    assert (user.identity, user.properties, user.contacts) == (
        AT,
        {"joined": SHOWN},
        {"email": "a@b.example"},
    )
    body = json.loads(dest.build(route, [user]).body)
    assert body["identity_values"] == [AT]


def test_nxcloud_sends_text_fields_as_written_and_extra_date_times_in_its_format():
    dest = NXCloud({"access_key": "a", "access_secret": "b", "tenant_id": 1, "app_key": "k"})
    route = Route("p", "nxcloud", "customer")
    values = {"first_name": "A", "last_name": "B", "remark": AT, "signed_up": AT}
    customer = dest.prepare(route, values, {})
    body = json.loads(dest.build(route, [customer]).body)
    assert body["customers"][0]["remark"] == AT
    assert json.loads(body["customers"][0]["customize_field"]) == {"signed_up": SHOWN}
