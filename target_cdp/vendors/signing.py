"""NXCloud's request signature (`API Interface Invocation Convention`).

    sign = lowercase hex md5("k1=v1&k2=v2..." + "&body=" + BODY + "&accessSecret=" + secret)

with the signed headers (`accessKey`, `action`, `bizType`, `ts`) in ASCII order of their
names, `&body=...` left out when the body is empty, and BODY the exact bytes sent. The
signature input holds the secret: it is built here, hashed, and never kept or logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def nxcloud_sign(headers: Mapping[str, str], body: bytes, access_secret: str) -> str:
    """The `sign` header for `headers` (the signed ones only) and `body`."""
    digest = hashlib.md5(usedforsecurity=False)
    digest.update("&".join(f"{k}={headers[k]}" for k in sorted(headers)).encode("utf-8"))
    if body:
        digest.update(b"&body=")
        digest.update(body)
    digest.update(b"&accessSecret=")
    digest.update(access_secret.encode("utf-8"))
    return digest.hexdigest()
