"""The PrimeData REST client: one `RESTStream` base for both streams.

Every PrimeData call is a POST selecting one profile (there is no list endpoint), so a
stream runs many small paginated searches, `max_concurrency` at a time, on one pooled
`requests.Session` (see `fanout.py`). Errors map to the SDK's retry model:
429 (honouring `Retry-After`), 5xx, timeouts and dropped connections are retried with
exponential backoff; 401 stops the run; 404 and 400 `validation_error` skip the lookup.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from functools import cached_property
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Protocol

import backoff
import msgspec
import requests
from singer_sdk import metrics
from singer_sdk.authenticators import APIKeyAuthenticator
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError

from tap_primedata import timestamps as ts
from tap_primedata.auth import primedata_authenticator
from tap_primedata.bookmarks import STATE_KEY
from tap_primedata.fanout import FanOut, Item
from tap_primedata.lookups import Lookup, LookupSource
from tap_primedata.progress import StreamProgress
from tap_primedata.sdk_seam import SeamStream
from tap_primedata.transport import (
    MAX_WAIT,
    RETRIABLE,
    AuthenticationFailed,
    LookupSkipped,
    RunRequestCounter,
    RunStopped,
    ServerFault,
    Tally,
    WrongURL,
    describe_failure,
    response_json,
    retry_after,
)

if TYPE_CHECKING:
    from backoff.types import Details

logger = logging.getLogger("tap-primedata")
_JSON = msgspec.json.Encoder(decimal_format="number")


class RunningTap(Protocol):
    """What a stream reads from the tap running it (`TapPrimeData`)."""

    server_faults: int  # lookups skipped because PrimeData misbehaved on them

    @property
    def session(self) -> requests.Session: ...

    @property
    def window(self) -> tuple[str | None, str]: ...


class Checkpoints:
    """When to emit STATE mid-stream: after `state_interval_records` emitted records, or
    `state_interval_seconds` after the first record not yet covered by a STATE."""

    def __init__(self, stream: PrimeDataStream, state: Callable[[], dict[str, Any]]) -> None:
        self.stream, self.state = stream, state
        self.every_n = int(stream.config["state_interval_records"])
        self.every_s = float(stream.config["state_interval_seconds"])
        self.pending, self.last = 0, time.monotonic()

    def count(self, records: int) -> None:
        """`records` more were emitted."""
        if not self.pending:
            self.last = time.monotonic()
        self.pending += records

    def maybe(self) -> None:
        """Emit STATE if enough was emitted, or long enough ago."""
        if self.pending and (
            self.pending >= self.every_n or time.monotonic() - self.last >= self.every_s
        ):
            self.stream.checkpoint(self.state())
            self.pending = 0


class PrimeDataStream(SeamStream[RunningTap]):
    """Base stream: POST searches against `api_url`, one lookup at a time, many in parallel."""

    http_method = "POST"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log_request_metrics(bool(self.config.get("log_request_metrics", False)))
        self._request_counter: RunRequestCounter | None = None
        self._marks: Any = None  # each stream's own kind, read by its `load_marks`
        self._tally = Tally()  # the running stream's counters (`run_lookups`)

    def load_marks(self) -> Any:
        """This run's bookmarks of the stream, read from its state once."""
        raise NotImplementedError

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Emit STATE now, with `state` as this stream's bookmarks."""
        self.write_state(STATE_KEY, state)

    def get_http_request_counter(self) -> RunRequestCounter:
        if self._request_counter is None:
            self._request_counter = RunRequestCounter(
                metrics.Metric.HTTP_REQUEST_COUNT, {metrics.Tag.STREAM: self.name,
                                                    metrics.Tag.ENDPOINT: self.path}
            )  # fmt: skip
        return self._request_counter

    @property
    def url_base(self) -> str:
        return str(self.config["api_url"]).rstrip("/")

    @cached_property
    def authenticator(self) -> APIKeyAuthenticator:
        return primedata_authenticator(self.config["api_key"])

    @property
    def requests_session(self) -> requests.Session:
        return self.tap.session

    def build_prepared_request(self, *args: Any, **kwargs: Any) -> requests.PreparedRequest:
        """The SDK's authenticated request, prepared without the session's per-call merging.

        The session has no cookies, hooks or environment settings to merge (see
        `build_session`), and the JSON body is encoded once with msgspec.
        """
        body = kwargs.pop("json", None)
        if args or set(kwargs) - {"method", "url", "params", "headers", "data"}:
            return super().build_prepared_request(*args, json=body, **kwargs)
        headers = {"User-Agent": self.user_agent, **(kwargs.get("headers") or {})}
        data = kwargs.get("data")
        if body is not None:
            data = _JSON.encode(body)
            headers["Content-Type"] = "application/json"
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=kwargs.get("method"),
            url=kwargs.get("url"),
            headers=headers,
            data=data,
            params=kwargs.get("params"),
            auth=self.authenticator,
        )
        return prepared

    @property
    def timeout(self) -> float:  # type: ignore[override]  # the SDK says int; requests takes float
        return float(self.config["request_timeout"])

    @property
    def max_concurrency(self) -> int:
        return int(self.config["max_concurrency"])

    @cached_property
    def naive_tz(self) -> Any:
        return ts.make_timezone(self.config["naive_timezone"])

    # errors and retries ----------------------------------------------------------------
    @staticmethod
    def _error_fields(response: requests.Response) -> tuple[str, str]:
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            error = None
        if not isinstance(error, dict):
            return "", ""
        return str(error.get("code") or ""), str(error.get("message") or "")

    def response_error_message(self, response: requests.Response) -> str:
        code, message = self._error_fields(response)
        detail = f" {code}: {message}" if code or message else ""
        return f"HTTP {response.status_code}{detail} ({self.path})"

    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if response.is_redirect:
            where = response.headers.get("Location", "elsewhere")
            raise WrongURL(
                f"PrimeData answered HTTP {status} redirecting to {where} (not followed, the "
                "API key stays here): check the `api_url` setting"
            )
        if status < HTTPStatus.BAD_REQUEST:
            try:
                response_json(response)
            except ValueError as exc:  # a proxy's error page, a truncated answer: may pass
                raise RetriableAPIError(f"HTTP {status} {exc} ({self.path})", response) from None
            return
        if status == HTTPStatus.UNAUTHORIZED:
            raise AuthenticationFailed(
                "PrimeData refused the API key (HTTP 401 authentication_error): "
                "check the `api_key` setting"
            )
        message = self.response_error_message(response)
        if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(message, response)
        if status == HTTPStatus.NOT_FOUND:
            raise LookupSkipped("not_found", message)
        if (
            status == HTTPStatus.BAD_REQUEST
            and self._error_fields(response)[0] == "validation_error"
        ):
            raise LookupSkipped("validation_error", message)
        raise FatalAPIError(message)

    def request_decorator(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """The SDK's retry policy, logged once per retry by `backoff_handler` only."""
        return backoff.on_exception(
            self.backoff_wait_generator,
            RETRIABLE,
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(func)

    def backoff_max_tries(self) -> int:
        return int(self.config["max_tries"])

    def backoff_wait_generator(self) -> Generator[float, Any, None]:
        """Exponential backoff with jitter, or exactly the server's `Retry-After`."""
        base = float(self.config["retry_base_delay"])
        cap = float(self.config["retry_max_delay"])
        attempt = 0
        exception = yield  # type: ignore[misc]  # backoff primes it with `send(None)` first
        while True:
            delay = retry_after(exception)
            if delay is None:
                delay = min(cap, base * 2**attempt) * random.uniform(0.5, 1.0)
            attempt += 1
            exception = yield min(delay, MAX_WAIT)

    def backoff_jitter(self, value: float) -> float:
        return value  # jitter is in backoff_wait_generator; Retry-After is honoured as is

    def backoff_handler(self, details: Details) -> None:
        self._tally.add("retries")
        exc = details.get("exception")
        response = getattr(exc, "response", None)
        cause = f"HTTP {response.status_code}" if response is not None else type(exc).__name__
        self.logger.warning(
            "Retrying %s in %.2fs after %s (try %d of %d)",
            self.path, details.get("wait") or 0.0, cause, details.get("tries") or 0,
            self.backoff_max_tries(),
        )  # fmt: skip

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        data = response_json(response).get("data")
        if isinstance(data, list):
            yield from data
        elif isinstance(data, dict):
            yield data

    # running many lookups ----------------------------------------------------------------
    def lookup_source(self) -> LookupSource:
        return LookupSource(self.config)

    def run_lookups(
        self,
        jobs: Iterable[Any],
        fetch: Callable[[Any], Iterator[list[Any]]],
        tally: Tally,
        source: LookupSource,
    ) -> Iterator[Item[Any]]:
        """Yield the items of `fetch(job)` for every job, lookups skipped and counted, with
        a progress line every `progress_seconds` and the stream's figures at its end."""
        self._tally = tally
        counter = self.get_http_request_counter()
        total, approximate = source.count()

        def counts() -> dict[str, int]:
            return {**tally.snapshot(), "requests": counter.total}

        progress = StreamProgress(
            self.name,
            float(self.config["progress_seconds"]),
            counts,
            total,
            self.logger,
            approximate=approximate,
        ).start()
        try:
            yield from self._run(jobs, fetch, tally)
        except BaseException:
            progress.stop()
            counter.close()
            raise
        progress.finish()
        counter.close()  # (restarts its value: last)

    def _run(
        self,
        jobs: Iterable[Any],
        fetch: Callable[[Any], Iterator[list[Any]]],
        tally: Tally,
    ) -> Iterator[Item[Any]]:
        for item in FanOut(jobs, fetch, workers=self.max_concurrency, name=self.name):
            error = item.error
            if item.done:
                tally.add("lookups_done")
            if error is None:
                yield item
            elif isinstance(error, LookupSkipped):
                tally.add(f"skipped_{error.reason}")
                lookup: Lookup = item.job.lookup
                if isinstance(error, ServerFault):
                    self.tap.server_faults += 1
                    self.logger.error(
                        "Skipping %s: %s (%s); the run goes on and will exit non-zero",
                        lookup.describe(), error, self.path,
                    )  # fmt: skip
                else:
                    self.logger.warning("Skipping %s: %s", lookup.describe(), error)
                yield Item(item.job, done=True, error=error)
            elif isinstance(error, AuthenticationFailed | WrongURL):
                raise RunStopped(str(error)) from None
            elif item.job is None:  # the lookup source itself failed (the file, mid-run)
                raise RunStopped(
                    f"Cannot read the lookups ({type(error).__name__}: {error}): check "
                    "`profiles_file`; the run stopped"
                ) from None
            elif isinstance(error, RETRIABLE):
                raise RunStopped(
                    f"Stopped at {item.job.lookup.describe()}: {describe_failure(error)} after "
                    f"{self.backoff_max_tries()} tries ({self.path}); the run stopped, lookups "
                    "not read yet are read by the next run"
                ) from None
            elif isinstance(error, FatalAPIError):
                raise RunStopped(
                    f"Stopped at {item.job.lookup.describe()}: {error}; the run stopped"
                ) from None
            else:
                raise error

    def log_summary(self, tally: Tally, source: LookupSource) -> None:
        counts = dict(sorted(tally.counts.items()))
        if source.invalid:
            counts["invalid_lines"] = source.invalid
        skipped = sum(v for k, v in counts.items() if k.startswith("skipped_"))
        self.logger.info("Stream %s summary: %s", self.name, counts or "{}")
        if skipped:
            self.logger.warning("Stream %s skipped %d lookup(s)", self.name, skipped)
