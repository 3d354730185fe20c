"""Catalog selection and stream maps still apply on the tap's fast RECORD path."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout

from tap_helpers import expected_events, tap_config

from tap_primedata.tap import TapPrimeData


def _run(config: dict, catalog: dict | None = None) -> list[dict]:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    tap = TapPrimeData(config=config, catalog=catalog, validate_config=True)
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        tap.sync_all()
    out.flush()
    text = out.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]
    return [json.loads(line) for line in text.splitlines() if line]


def _catalog(config: dict, deselect: tuple[str, ...]) -> dict:
    catalog = TapPrimeData(config=config, validate_config=True).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            crumb = tuple(entry["breadcrumb"])
            if crumb == ():
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "events"
            elif crumb[-1] in deselect:
                entry["metadata"]["selected"] = False
    return catalog


def test_deselected_properties_are_dropped(sandbox):
    config = tap_config(sandbox, profile_ids=tap_config(sandbox)["profile_ids"][:3])
    messages = _run(config, _catalog(config, deselect=("properties", "sent_at")))
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {"events"}
    assert len(records) == len(expected_events(sandbox, 3))
    assert all("properties" not in r and "sent_at" not in r and "time_stamp" in r for r in records)


def test_stream_maps_filter_and_add_fields(sandbox):
    config = tap_config(
        sandbox,
        profile_ids=tap_config(sandbox)["profile_ids"][:3],
        stream_maps={
            "events": {"__filter__": "event_name == 'PageView'", "kind": "'event'"},
            "profiles": None,
        },
    )
    records = [m["record"] for m in _run(config) if m["type"] == "RECORD"]
    page_views = [e for e in expected_events(sandbox, 3).values() if e["event_name"] == "PageView"]
    assert page_views and len(records) == len(page_views)
    assert all(r["event_name"] == "PageView" and r["kind"] == "event" for r in records)
