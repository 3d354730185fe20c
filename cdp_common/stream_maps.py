"""Stream maps as both plugins see them: which map passes records through unchanged.

The SDK gives every stream a map even when none is configured: its `SameRecordTransform`
(undocumented, checked by `tests/common/test_sdk_contract.py`), which returns each record as
it came; both plugins skip that call per record when the map is this default one.
"""

from __future__ import annotations

from singer_sdk.mapper import SameRecordTransform, StreamMap

__all__ = ["StreamMap", "passes_unchanged"]


def passes_unchanged(stream_map: StreamMap) -> bool:
    """The default map when no stream map is configured: records pass unchanged."""
    return type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled
