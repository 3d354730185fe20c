"""What an HTTP answer means: `Outcome`, `Answer`, and one reading of every vendor's result codes.

Every destination answers the same way: HTTP 429 and 5xx are transient whatever the body says;
otherwise a result code in the JSON body decides (`ResultCodes`), and an answer without one is
judged by its HTTP status (`by_status`). The generic sender turns the outcome into a retry, a
split batch or a stop; a vendor module only declares its codes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cdp_common.http import retry_after

THROTTLED = "http_429"
"""The code of a throttled answer (counted apart from other retries)."""


class Outcome(enum.Enum):
    """What an answer means for the records it carried."""

    OK = "ok"  # delivered
    RETRY = "retry"  # transient: back off and send the same call again
    REJECTED = "rejected"  # refused for its data: split the batch, dead-letter the culprit
    CREDENTIALS = "credentials"  # credentials or permissions refused: stop the run at once
    WRONG_URL = "wrong_url"  # no such endpoint (404/405, a redirect): stop the run at once


@dataclass(frozen=True)
class Answer:
    """A classified response. `setting` names what to check when `outcome` stops the run."""

    outcome: Outcome
    code: str = ""
    message: str = ""
    retry_after: float | None = None
    setting: str | None = None
    data: Any = None  # the parsed body, for vendors that need it (euids)


def transient(status: int, headers: Mapping[str, str]) -> Answer | None:
    """RETRY (honouring `Retry-After`) for 429 and 5xx, whatever the body says; else None."""
    if status == 429:
        return Answer(Outcome.RETRY, THROTTLED, "HTTP 429", retry_after(headers))
    if status >= 500:
        return Answer(Outcome.RETRY, f"http_{status}", f"HTTP {status}", retry_after(headers))
    return None


def by_status(status: int, vendor: str, credentials_setting: str, url_setting: str) -> Answer:
    """The answer for an HTTP status whose body carries no vendor result code."""
    if status in (401, 403):
        return Answer(
            Outcome.CREDENTIALS, f"http_{status}", f"HTTP {status}", setting=credentials_setting
        )
    if status in (404, 405):
        message = f"HTTP {status}: {vendor} has no such endpoint"
        return Answer(Outcome.WRONG_URL, f"http_{status}", message, setting=url_setting)
    if 200 <= status < 300:
        message = f"HTTP {status} without a {vendor} result code"
        return Answer(Outcome.RETRY, "unexpected_answer", message)
    return Answer(Outcome.REJECTED, f"http_{status}", f"HTTP {status}")


def redirected(status: int, where: str, url_setting: str) -> Answer:
    """A redirect: the URL setting is wrong (a POST is never replayed elsewhere)."""
    message = f"HTTP {status} redirect to {where}: set the URL it points to"
    return Answer(Outcome.WRONG_URL, f"http_{status}", message, setting=url_setting)


def stop_message(vendor: str, answer: Answer) -> str:
    """The one line a run stops with: what the destination refused and the setting to check."""
    setting = answer.setting or "credentials"
    if not setting.startswith(f"{vendor}."):
        setting = f"{vendor}.{setting}"
    reason = f"{answer.code} {answer.message}".strip()
    if answer.outcome is Outcome.WRONG_URL:
        return f"{vendor} has no such endpoint ({reason}): check the URL setting `{setting}`"
    return f"{vendor} refused the credentials ({reason}): check the setting `{setting}`"


@dataclass(frozen=True)
class ResultCodes:
    """One vendor's result codes: where the body holds them and what each one means.

    Code 0 with a 2xx status is success; any code not listed is a rejection of the data."""

    vendor: str
    credentials_setting: str  # what a 401/403 without a code points at
    url_setting: str  # what a 404/405 without a code, or a redirect, points at
    code_field: str = "code"
    message_fields: tuple[str, ...] = ("message",)
    retry: Mapping[int, str] = field(default_factory=dict)  # code -> message when it has none
    credentials: Mapping[int, str] = field(default_factory=dict)  # code -> the setting to check
    rejected: frozenset[int] = frozenset()

    def classify(self, status: int, body: Any, headers: Mapping[str, str]) -> Answer:
        """Turn an HTTP answer (its body parsed when JSON) into an `Answer`."""
        answer = transient(status, headers)
        if answer is not None:
            return answer
        code: Any = body.get(self.code_field) if isinstance(body, dict) else None
        if code is None or isinstance(code, bool):
            return self.by_status(status)
        if not isinstance(code, int | float | str):  # a list or object: no code we know
            code = str(code)
        message = next((str(body[k]) for k in self.message_fields if body.get(k)), "")
        if code == 0 and status < 300:
            return Answer(Outcome.OK, "0", message, data=body)
        if code in self.retry:
            return Answer(Outcome.RETRY, str(code), message or self.retry[code])
        if code in self.credentials:
            return Answer(Outcome.CREDENTIALS, str(code), message, setting=self.credentials[code])
        if code in self.rejected:
            return Answer(Outcome.REJECTED, str(code), message)
        if code == 0:  # code 0 with an error status: not a success
            return self.by_status(status)
        return Answer(Outcome.REJECTED, str(code), message or f"unknown {self.code_field}")

    def by_status(self, status: int) -> Answer:
        """`by_status` with this vendor's settings."""
        return by_status(status, self.vendor, self.credentials_setting, self.url_setting)
