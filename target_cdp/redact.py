"""One redaction helper for every output: logs, errors, dead letters, dry-run files.

The redactor itself lives in `cdp_common.redact` (the tap uses it too); `install` makes every
log record of the process pass through it, whatever handler writes it.
"""

from __future__ import annotations

import logging

from cdp_common.redact import (
    MASK,
    REDACTOR,
    RedactingFilter,
    Redactor,
    install_record_factory,
)

__all__ = ["MASK", "REDACTOR", "RedactingFilter", "Redactor", "install"]


def install(redactor: Redactor = REDACTOR) -> None:
    """Redact every log record at creation, and filter the root handlers for good measure."""
    install_record_factory(redactor)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(redactor))
