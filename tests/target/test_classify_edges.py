"""What each vendor's answer means at the edges: a result code against an HTTP status that
disagrees with it, the 2xx boundary, and the message a dead letter or a stop line will show.

Each vendor names its result code and message differently; the rules are the same: success is
code 0 with a 2xx status; code 0 with another status is judged by the status alone; a code
the vendor documents keeps its meaning whatever the status; an unknown code is a rejection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from cdp_common.http import retry_after
from target_cdp.vendors.base import Answer, Destination, Outcome
from target_cdp.vendors.dmartech import Dmartech
from target_cdp.vendors.engagelab import EngageLab
from target_cdp.vendors.nxcloud import NXCloud


@dataclass(frozen=True)
class Vendor:
    dest: Destination
    code_key: str
    message_key: str
    rejected: tuple[int, ...]  # the documented "refused for its data" codes
    unknown_message: str
    url_setting: str

    def classify(self, status: int, code: Any, message: str | None = "m") -> Answer:
        body = {self.code_key: code}
        if message is not None:
            body[self.message_key] = message
        return self.dest.classify(status, body, {})


VENDORS = {
    "dmartech": Vendor(
        Dmartech({"api_url": "https://d.example", "secret": "s3cr3t"}),
        "errcode",
        "errmsg",
        (10001, 10002, 10004, 20001, 20002, 20003),
        "unknown errcode",
        "dmartech.api_url",
    ),
    "engagelab": Vendor(
        EngageLab({"api_key": "key-1", "api_secret": "secret-2"}),
        "code",
        "message",
        (40007, 55004, 55101, 55102, 55103, 55105, 55106, 55107, 55108),
        "unknown code",
        "engagelab.base_url",
    ),
    "nxcloud": Vendor(
        NXCloud({"access_key": "ak", "access_secret": "as", "tenant_id": "1", "app_key": "a"}),
        "code",
        "message",
        (1001, 1002),
        "unknown code",
        "nxcloud.base_url",
    ),
}


@pytest.fixture(params=sorted(VENDORS))
def vendor(request) -> Vendor:
    return VENDORS[request.param]


@pytest.mark.parametrize("status", [200, 201, 299])
def test_code_0_with_a_2xx_status_is_success_with_its_message(vendor, status):
    answer = vendor.classify(status, 0)
    assert (answer.outcome, answer.code, answer.message) == (Outcome.OK, "0", "m")


def test_code_0_with_status_300_is_not_success(vendor):
    answer = vendor.classify(300, 0)
    assert (answer.outcome, answer.code) == (Outcome.REJECTED, "http_300")


def test_code_0_with_a_404_names_the_url_setting(vendor):
    answer = vendor.classify(404, 0)
    assert (answer.outcome, answer.code) == (Outcome.WRONG_URL, "http_404")
    assert answer.setting == vendor.url_setting


@pytest.mark.parametrize("status", [200, 404])
def test_a_documented_rejection_code_rejects_whatever_the_status(vendor, status):
    for code in vendor.rejected:
        answer = vendor.classify(status, code)
        assert (answer.outcome, answer.code, answer.message) == (Outcome.REJECTED, str(code), "m")


def test_a_documented_rejection_code_is_never_reported_as_unknown(vendor):
    for code in vendor.rejected:
        answer = vendor.classify(200, code, message=None)
        assert (answer.outcome, answer.code) == (Outcome.REJECTED, str(code))
        assert answer.message != vendor.unknown_message, code


@pytest.mark.parametrize("code", [-7, 424242])
def test_an_unknown_code_with_a_2xx_status_is_a_rejection_with_the_vendors_message(vendor, code):
    answer = vendor.classify(200, code)
    assert (answer.outcome, answer.code, answer.message) == (Outcome.REJECTED, str(code), "m")


def test_an_unknown_code_without_a_message_says_so(vendor):
    answer = vendor.classify(200, 424242, message=None)
    assert (answer.outcome, answer.message) == (Outcome.REJECTED, vendor.unknown_message)


def test_nxcloud_reads_msg_when_message_is_missing():
    answer = NXCloud(VENDORS["nxcloud"].dest.settings).classify(200, {"code": 1001, "msg": "x"}, {})
    assert (answer.outcome, answer.message) == (Outcome.REJECTED, "x")


def test_nxcloud_expired_timestamp_is_retried_with_a_default_message():
    answer = VENDORS["nxcloud"].classify(200, 1004, message=None)
    assert (answer.outcome, answer.code, answer.message) == (
        Outcome.RETRY,
        "1004",
        "timestamp expired",
    )


# the shared HTTP rules every vendor applies before (or without) its own code -----------
@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (199, Outcome.REJECTED),
        (200, Outcome.RETRY),  # 2xx without a result code: unexpected, sent again
        (299, Outcome.RETRY),
        (300, Outcome.REJECTED),
        (401, Outcome.CREDENTIALS),
        (403, Outcome.CREDENTIALS),
        (404, Outcome.WRONG_URL),
        (405, Outcome.WRONG_URL),
        (406, Outcome.REJECTED),
        (428, Outcome.REJECTED),
        (429, Outcome.RETRY),
        (430, Outcome.REJECTED),
        (499, Outcome.REJECTED),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_an_answer_without_a_result_code_is_judged_by_its_status(vendor, status, outcome):
    answer = vendor.dest.classify(status, "<html>not json</html>", {})
    assert answer.outcome is outcome
    if status in (404, 405):
        assert answer.setting == vendor.url_setting


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-5", 0.0), ("  ", None), ("0", 0.0), ("2.5", 2.5)],
)
def test_retry_after_in_seconds_is_never_negative(value, expected):
    assert retry_after({"Retry-After": value}) == expected


def test_retry_after_as_a_date_without_a_zone_is_read_as_utc():
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    value = later.strftime("%a, %d %b %Y %H:%M:%S -0000")  # RFC 2822's "zone unknown"
    seconds = retry_after({"Retry-After": value})
    assert seconds is not None and 0 < seconds <= 3600
