"""The sandbox enforces the vendors' documented limits (docs/apis: NXCloud's customer fields,
EngageLab's identities) and target-cdp checks the same ones before it sends: each pair is
compared here, by behaviour, so neither side can drift from the other unnoticed."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from cdp_sandbox import engagelab as sandbox_engagelab
from cdp_sandbox import nxcloud as sandbox_nxcloud
from target_cdp.routes import Route
from target_cdp.vendors import engagelab as target_engagelab
from target_cdp.vendors.base import ConfigError, RecordError
from target_cdp.vendors.nxcloud import NXCloud

SETTINGS = {"access_key": "ak-1", "access_secret": "as-2", "tenant_id": "144", "app_key": "app"}
CUSTOMER = Route("profiles", "nxcloud", "customer")
NAMES = {"first_name": "Zhang", "last_name": "San"}
# Sandbox string fields the target checks as something else than text: by their format.
FORMATTED = {"birthday", "customize_field"}
LIMITED = {k: v for k, v in sandbox_nxcloud.STRING_FIELDS.items() if v is not None}
UNLIMITED = [
    k for k, v in sandbox_nxcloud.STRING_FIELDS.items() if v is None and k not in FORMATTED
]


def prepare(dest: NXCloud, record: dict[str, Any]) -> Any:
    return dest.prepare(CUSTOMER, CUSTOMER.project(record), record)


@pytest.mark.parametrize(("field", "limit"), sorted(LIMITED.items()))
def test_nxcloud_text_limits_are_the_targets(field: str, limit: int) -> None:
    dest = NXCloud({**SETTINGS, "api_version": 2 if field == "full_name" else 1})
    assert prepare(dest, {**NAMES, field: "x" * limit})[field] == "x" * limit
    with pytest.raises(RecordError, match=rf"^{field}: {limit + 1} characters, nxcloud allows"):
        prepare(dest, {**NAMES, field: "x" * (limit + 1)})


@pytest.mark.parametrize("field", UNLIMITED)
def test_nxcloud_fields_without_a_limit_have_none_in_the_target(field: str) -> None:
    long = "x" * 5000
    assert prepare(NXCloud(SETTINGS), {**NAMES, field: long})[field] == long


def test_the_target_sends_no_other_customer_field_than_the_sandbox_knows() -> None:
    """Every key of a prepared customer is one the sandbox checks (or `gender`)."""
    record = {**NAMES, **{k: "x" for k in LIMITED}, **{k: "y" for k in UNLIMITED}}
    record |= {"birthday": "1976-04-12", "gender": 1, "customize_field": {"a": 1}, "extra": 2}
    customer = prepare(NXCloud(SETTINGS), record)
    assert set(customer) <= {*sandbox_nxcloud.STRING_FIELDS, "gender"}
    assert set(sandbox_nxcloud.STRING_FIELDS) <= {*customer, "full_name"}


@pytest.mark.parametrize("version", sorted(sandbox_nxcloud.REQUIRED_FIELDS))
def test_nxcloud_required_names_per_api_version(version: int) -> None:
    dest = NXCloud({**SETTINGS, "api_version": version})
    assert dest.required == sandbox_nxcloud.REQUIRED_FIELDS[version]


def test_nxcloud_batch_limit() -> None:
    dest = NXCloud(SETTINGS)
    assert dest.batch_size(CUSTOMER, "customer") == sandbox_nxcloud.MAX_CUSTOMERS
    with pytest.raises(ConfigError):
        NXCloud({**SETTINGS, "batch_size": sandbox_nxcloud.MAX_CUSTOMERS + 1})


@pytest.mark.parametrize("version", sorted(sandbox_nxcloud.REQUIRED_FIELDS))
def test_customers_at_every_limit_are_accepted_by_the_sandbox(sandbox: Any, version: int) -> None:
    creds = sandbox.credentials
    dest = NXCloud(
        {
            "base_url": sandbox.url,
            "access_key": creds.nxcloud_access_key,
            "access_secret": creds.nxcloud_access_secret,
            "tenant_id": creds.nxcloud_tenant_id,
            "app_key": creds.nxcloud_app_key,
            "api_version": version,
        }
    )
    names = {"full_name": "Li Si"} if version == 2 else NAMES
    record = {**{k: "x" * n for k, n in LIMITED.items() if k not in NAMES}, **names}
    call = dest.build(CUSTOMER, [prepare(dest, record)])
    answer = requests.post(call.url, data=call.body, headers={**call.headers, **dest.sign(call)})
    assert answer.json()["code"] == 0, answer.json()


def test_engagelab_identity_limits_are_the_targets() -> None:
    assert target_engagelab.MAX_IDENTITIES == sandbox_engagelab.MAX_IDENTITIES
    assert target_engagelab.MAX_IDENTITY_LENGTH == sandbox_engagelab.MAX_IDENTITY_LENGTH
    assert target_engagelab.IDENTITY_NAMES == sandbox_engagelab.IDENTITY_NAMES
