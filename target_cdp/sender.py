"""Sending one call: sign each attempt, POST on a pooled session, classify, retry with backoff."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import backoff
import msgspec
import requests
from requests.adapters import HTTPAdapter

from cdp_common.http import environment_for, retry_after
from target_cdp.answers import THROTTLED, redirected, stop_message
from target_cdp.dryrun import DryRun
from target_cdp.redact import MASK, REDACTOR, Redactor
from target_cdp.settings import Throttle
from target_cdp.summary import RouteStats
from target_cdp.vendors.base import Answer, Call, Destination, Outcome

_decode = msgspec.json.Decoder().decode


class StopDelivery(Exception):
    """Delivery of a call cannot go on (the vendor's `deliver` must let it through)."""

    def __init__(self, message: str, answer: Answer | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.answer = answer


class CredentialsRefused(StopDelivery):
    """The destination refused the credentials: the whole run stops."""


class EndpointNotFound(StopDelivery):
    """The destination has no such endpoint (a wrong URL setting): the whole run stops."""


class RetriesExhausted(StopDelivery):
    """Still failing after `max_tries` attempts: the call's records are dead-lettered."""


class Aborted(StopDelivery):
    """The run is stopping; the call was given up."""


class RateLimiter:
    """Spaces requests `1 / rate` seconds apart across all threads of one destination."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> float:
        """Sleep until this request's turn; the seconds slept."""
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        if at > now:
            time.sleep(at - now)
        return max(0.0, at - now)


def _mask_headers(answer: Answer, values: list[str]) -> Answer:
    """`answer` without the values of this attempt's sensitive headers (a fresh signature is
    no registered secret, yet an answer echoing the request headers would show it)."""
    message = answer.message
    for value in values:
        if len(value) >= 4 and value in message:
            message = message.replace(value, MASK)
    return answer if message == answer.message else dataclasses.replace(answer, message=message)


class Sender:
    """Sends the calls of one destination; shared by all its lanes."""

    def __init__(
        self,
        dest: Destination,
        throttle: Throttle,
        *,
        max_tries: int,
        timeout: float,
        max_wait: float,
        stop: threading.Event,
        dry_run: DryRun | None = None,
        redactor: Redactor = REDACTOR,
    ) -> None:
        self.dest = dest
        self.max_tries = max_tries
        self.timeout = timeout
        self.max_wait = max_wait
        self.stop = stop
        self.dry_run = dry_run
        self.redactor = redactor
        rate = throttle.requests_per_second
        self.limiter = RateLimiter(rate) if rate else None
        self.session = requests.Session()
        size = max(throttle.max_concurrency, 1)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # requests re-reads proxy and CA settings from the environment on every call
        # otherwise; here they are read once per host (`_environment`)
        self.session.trust_env = False
        self._environments: dict[str, dict[str, Any]] = {}

    def _environment(self, url: str) -> dict[str, Any]:
        """Proxies (and a CA bundle) from the environment for `url`'s host, read once."""
        origin = "/".join(url.split("/", 3)[:3])
        env: dict[str, Any] | None = self._environments.get(origin)
        if env is None:
            env = self._environments[origin] = environment_for(url)
        return env

    def close(self) -> None:
        self.session.close()

    def send(self, call: Call, stats: RouteStats, route: str) -> Answer:
        """An OK or REJECTED answer; raises `CredentialsRefused`, `EndpointNotFound`,
        `RetriesExhausted`, `Aborted`."""
        if self.dry_run is not None:
            headers = {**call.headers, **self.dest.sign(call)}
            try:
                self.dry_run.write(self.dest.name, route, call, headers)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                path = self.dry_run.path
                raise StopDelivery(
                    f"cannot write the dry-run file {path} ({reason}): check `dry_run_path`"
                ) from None
            stats.add(requests=1)
            return Answer(Outcome.OK, data=call.dry_run_reply)
        delays = backoff.expo(base=2, factor=0.5, max_value=self.max_wait)
        next(delays)  # python-backoff's generator yields once before the first value
        answer = Answer(Outcome.RETRY, "not_sent", "no attempt made")
        for attempt in range(1, self.max_tries + 1):
            if self.stop.is_set():
                raise Aborted("the run is stopping")
            answer = self._attempt(call, stats)
            stats.add(requests=1)
            if answer.outcome in (Outcome.OK, Outcome.REJECTED):
                return answer
            if answer.outcome is Outcome.CREDENTIALS:
                raise CredentialsRefused(self._stop_message(answer), answer)
            if answer.outcome is Outcome.WRONG_URL:
                raise EndpointNotFound(self._stop_message(answer), answer)
            if attempt == self.max_tries:
                break
            stats.add(retries=1, throttled=int(answer.code == THROTTLED))
            wait = backoff.full_jitter(next(delays))
            if answer.retry_after is not None:
                wait = max(wait, answer.retry_after)
            if self.stop.wait(min(wait, self.max_wait)):
                raise Aborted("the run is stopping")
        raise RetriesExhausted(
            f"gave up after {self.max_tries} tries: {answer.code} {answer.message}".strip(), answer
        )

    def _attempt(self, call: Call, stats: RouteStats) -> Answer:
        """One signed request, classified (timeouts and connection errors are RETRY)."""
        if self.limiter is not None:
            waited = self.limiter.wait()
            if waited:
                stats.add(throttle_wait=waited)
        headers = {"Content-Type": "application/json; charset=utf-8", **call.headers}
        headers.update(self.dest.sign(call))
        env = self._environment(call.url)
        prepared = requests.PreparedRequest()
        prepared.prepare(method=call.method, url=call.url, headers=headers, data=call.body)
        try:  # the adapter directly: no cookies, hooks or redirects to process per call
            response = self.session.get_adapter(call.url).send(
                prepared, timeout=self.timeout, **env
            )
            body: Any = response.content
        except requests.Timeout as exc:
            return Answer(Outcome.RETRY, "timeout", self.redactor(f"request timed out: {exc}"))
        except requests.RequestException as exc:
            name = type(exc).__name__
            return Answer(Outcome.RETRY, "connection_error", self.redactor(f"{name}: {exc}"))
        if response.is_redirect:
            return self._redirected(response)
        try:
            body = _decode(body) if body else None
        except msgspec.DecodeError:
            body = response.text
        answer = self.dest.classify(response.status_code, body, response.headers)
        answer = _mask_headers(
            answer, [headers[h] for h in call.sensitive_headers if headers.get(h)]
        )
        if answer.outcome is Outcome.RETRY and answer.retry_after is None:
            after = retry_after(response.headers)
            if after is not None:
                answer = Answer(
                    answer.outcome, answer.code, answer.message, after, answer.setting, answer.data
                )
        return answer

    def _redirected(self, response: requests.Response) -> Answer:
        """A redirect means a wrong URL setting (a POST must not be replayed elsewhere)."""
        where = self.redactor(str(response.headers.get("Location", "elsewhere")))
        url_setting = self.dest.result_codes.url_setting
        return redirected(response.status_code, where, url_setting)

    def _stop_message(self, answer: Answer) -> str:
        return self.redactor(stop_message(self.dest.name, answer))
