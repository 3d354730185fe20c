"""Singer stream maps as both plugins use them."""

from __future__ import annotations

from singer_sdk.mapper import SameRecordTransform, StreamMap


def is_identity_map(stream_map: StreamMap) -> bool:
    """The default map when no stream map is configured: records pass unchanged."""
    return type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled
