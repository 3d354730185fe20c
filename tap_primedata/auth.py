"""PrimeData authentication: the API key in the `x-api-key` header."""

from __future__ import annotations

from singer_sdk.authenticators import APIKeyAuthenticator

HEADER = "x-api-key"


def primedata_authenticator(api_key: str) -> APIKeyAuthenticator:
    """An authenticator that sends `api_key` as `x-api-key` on every request."""
    return APIKeyAuthenticator(key=HEADER, value=api_key, location="header")
