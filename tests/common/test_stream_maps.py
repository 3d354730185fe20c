"""`cdp_common.stream_maps.passes_unchanged` tells the SDK's default map from a configured one.

Both plugins skip the map call per record when it is true, so it must be true only for the map
the SDK uses when no `stream_maps` and no flattening are configured (fails on an SDK change)."""

from __future__ import annotations

import logging
from typing import Any

from singer_sdk.mapper import PluginMapper, SameRecordTransform

from cdp_common.stream_maps import passes_unchanged

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "a": {"type": "object"}}}


def maps(config: dict[str, Any]) -> list[Any]:
    mapper = PluginMapper(plugin_config=config, logger=logging.getLogger("test"))
    mapper.register_raw_stream_schema("s", SCHEMA, ["id"])
    return list(mapper.stream_maps["s"])


def test_the_default_map_passes_records_unchanged() -> None:
    (default,) = maps({})
    assert type(default) is SameRecordTransform and passes_unchanged(default)
    record = {"id": 1, "a": {"b": 2}}
    assert default.transform(record) == record


def test_configured_maps_and_flattening_are_applied() -> None:
    aliased = maps({"stream_maps": {"s": {"id": "id * 10"}}})
    assert not any(passes_unchanged(m) for m in aliased)
    assert aliased[0].transform({"id": 1, "a": {}}) == {"id": 10, "a": {}}
    (flat,) = maps({"flattening_enabled": True, "flattening_max_depth": 1})
    assert not passes_unchanged(flat)
    assert flat.transform({"id": 1, "a": {"b": 2}}) == {"id": 1, "a": '{"b":2}'}
