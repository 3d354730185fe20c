"""HTTP plumbing of the tap: errors, retries, pagination, the pooled session, counters."""

from __future__ import annotations

import decimal
import threading
from collections import Counter
from typing import Any

import msgspec
import requests
from requests.adapters import HTTPAdapter
from singer_sdk import metrics
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from cdp_common import http
from cdp_common.http import environment_for

RETRIABLE = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_DECODER = msgspec.json.Decoder(float_hook=decimal.Decimal)  # decimals keep their digits
MAX_WAIT = 900.0  # never sleep longer than this, whatever Retry-After says


class AuthenticationFailed(FatalAPIError):
    """PrimeData answered 401: the API key is wrong; nothing else can work."""


class WrongURL(FatalAPIError):
    """PrimeData answered a redirect: `api_url` points at the wrong place (never followed)."""


class LookupSkipped(FatalAPIError):
    """PrimeData refused one lookup (404, or 400 `validation_error`); the run goes on."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ServerFault(LookupSkipped):
    """PrimeData misbehaved on one lookup (a cursor that repeats): skipped, the run fails."""


def describe_failure(exc: BaseException) -> str:
    """A short cause for a request that failed for good: refused, reset, timed out, HTTP 5xx."""
    if isinstance(exc, RetriableAPIError):
        return str(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return f"timed out ({type(exc).__name__})"
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the answer was cut off"
    if isinstance(exc, ConnectionResetError | requests.exceptions.ConnectionError):
        return "connection reset or closed by the server"
    return type(exc).__name__


class RunStopped(BaseException):
    """Ends the run with one log line; a BaseException so no generic handler logs it again."""


def response_json(response: requests.Response) -> Any:
    """The response body as JSON, parsed once and cached on the response."""
    cached = getattr(response, "_primedata_json", None)
    if cached is None:
        try:
            cached = _DECODER.decode(response.content)
        except msgspec.DecodeError as exc:
            raise ValueError(f"response is not JSON: {exc}") from None
        except RecursionError:
            raise ValueError("response is not JSON: nested too deeply") from None
        response._primedata_json = cached  # type: ignore[attr-defined]  # parsed once, kept on it
    return cached


class CursorPaginator(BaseAPIPaginator[str | None]):
    """Follows the top-level `cursor: {has_more, next}`; a missing cursor is the last page.

    A cursor seen before on the same lookup would loop forever: the lookup is skipped.
    """

    def __init__(self) -> None:
        super().__init__(None)
        self._seen: set[str] = set()

    @staticmethod
    def _cursor(response: requests.Response) -> dict[str, Any]:
        body = response_json(response)
        cursor = body.get("cursor") if isinstance(body, dict) else None
        return cursor if isinstance(cursor, dict) else {}

    def has_more(self, response: requests.Response) -> bool:
        cursor = self._cursor(response)
        return bool(cursor.get("has_more")) and bool(cursor.get("next"))

    def get_next(self, response: requests.Response) -> str | None:
        cursor = self._cursor(response).get("next") or None
        if cursor is not None:
            key = str(cursor)
            if key in self._seen:
                msg = f"PrimeData repeated a pagination cursor after {len(self._seen)} page(s)"
                raise ServerFault("cursor_loop", msg)
            self._seen.add(key)
        return cursor

    def continue_if_empty(self, response: requests.Response) -> bool:
        return self.has_more(response)


class LookupContext(dict[str, Any]):
    """The SDK context of one lookup's requests.

    As a dict it holds only the lookup's stable id (the SDK logs contexts in its metrics,
    and identity values are personal data); the job itself rides along as an attribute.
    """

    def __init__(self, job: Any) -> None:
        super().__init__(lookup=job.lookup.hex_id)
        self.job = job


class Tally:
    """Counters the worker threads add to while the progress thread reads them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def add(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts, taken while no thread adds."""
        with self._lock:
            return dict(self.counts)


class NoRedirectSession(requests.Session):
    """A session that never follows a redirect: the API key must not go to another host."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().send(request, **kwargs)


def build_session(pool_size: int, url: str) -> requests.Session:
    """One session whose connection pool fits `pool_size` concurrent requests.

    Proxy and CA-bundle settings from the environment are resolved once for `url`
    instead of on every request (requests re-reads the environment per call otherwise).
    Redirects are never followed (`NoRedirectSession`).
    """
    session = NoRedirectSession()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, pool_size), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    environment = environment_for(url)
    session.proxies.update(environment["proxies"])
    if "verify" in environment:
        session.verify = environment["verify"]
    session.trust_env = False
    return session


class RunRequestCounter(metrics.Counter):
    """One `http_request_count` for the whole stream instead of one log line per lookup.

    The SDK opens and closes a counter per `request_records` call; with 100k lookups that
    is 100k log lines. This counter ignores the per-lookup context and exits, logs every
    `log_interval` seconds as usual, and once more at `close()`.

    The stream's worker threads share it, and the SDK's `increment` (add, then log and reset
    when the interval is up) is not atomic: every change holds one lock. `value` restarts at
    each metric line; `total` counts the stream's requests (the progress lines read it).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self.total = 0

    @override
    def increment(self, value: int = 1) -> None:
        """Count requests from many worker threads at once."""
        with self._lock:
            self.total += value
            super().increment(value)

    @override
    def with_context(self, value: Any) -> None:
        pass

    @override
    def __exit__(self, *args: object) -> None:
        pass

    def close(self) -> None:
        """Log the requests since the last metric line (and restart `value`)."""
        with self._lock:
            super().exit()


def retry_after(exception: Any) -> float | None:
    """Seconds the server asked to wait before retrying the request that raised `exception`."""
    response = getattr(exception, "response", None)
    return None if response is None else http.retry_after(response.headers)
