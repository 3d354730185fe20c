"""Acme, a fourth destination in one module: what README "Adding a destination" describes.

Acme's (made-up) API: `POST {url}/contacts` with `Authorization: Bearer {token}` and
`{"list": LIST, "contacts": [...]}`, at most 2 contacts a call; it answers `{"code": 0}`, or
`{"code": 7, "message": ...}` when a contact has no email (HTTP 400), or HTTP 401 without a body
for a wrong token. Everything else (batching, retries, splitting a refused batch to dead-letter
its culprit, STATE, the ledger, redaction) is the target's generic code.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from singer_sdk import typing as th

from target_cdp import convert
from target_cdp.answers import ResultCodes
from target_cdp.routes import Route
from target_cdp.vendors.base import Call, Destination


class Acme(Destination):
    """Acme's contact lists."""

    name = "acme"
    route_options = {
        "contact": th.PropertiesList(
            th.Property("list", th.StringType, required=True, description="The Acme list")
        )
    }
    result_codes = ResultCodes(
        vendor="acme",
        credentials_setting="acme.token",
        url_setting="acme.url",
        rejected=frozenset({7}),
    )
    settings_schema = th.ObjectType(
        th.Property("url", th.StringType, description="Acme's API URL"),
        th.Property("token", th.StringType, secret=True, description="Acme's API token"),
    )
    required_settings = ("url", "token")
    secret_settings = frozenset({"token"})

    def prepare(self, route: Route, values: dict[str, Any], record: dict[str, Any]) -> Any:
        return convert.payload(values, datetimes=convert.datetime_text)

    def batch_size(self, route: Route, key: Hashable) -> int:
        return 2

    def build(self, route: Route, items: list[Any]) -> Call:
        return Call(
            "POST",
            f"{self.settings['url']}/contacts",
            convert.dumps({"list": route.options["list"], "contacts": items}),
            headers={"Authorization": f"Bearer {self.settings['token']}"},
            label="contacts",
            sensitive_headers=frozenset({"Authorization"}),
        )
