"""Fewer garbage collections while records stream through the target."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_OBJECTS = 20_000  # new objects before a young collection (CPython's default: 700)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Freeze what startup built (the SDK, SQLAlchemy, settings: hundreds of thousands of
    objects no later collection needs to scan) and collect young objects less often.

    Records make no reference cycles: reference counting frees them as their batches are
    delivered, so each collection in the stream only spends time finding nothing. The
    previous thresholds come back on the way out (the target may run inside a test)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
