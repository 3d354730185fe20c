"""The private SDK members `tap_primedata/sdk_seam.py` relies on exist as it uses them.

An SDK release that renames or reshapes one fails here, by name, instead of silently skipping
bookmarks or STATE."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from sdk_private import private_names, sdk_uses
from singer_sdk import Stream, Tap
from singer_sdk.contrib import msgspec as sdk_msgspec
from singer_sdk.helpers import _catalog
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams import RESTStream

from tap_primedata.sdk_seam import PAGINATION_STOPPED, SeamStream, SeamTap


def params(function) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]


@pytest.mark.parametrize(
    ("owner", "name", "expected"),
    [
        (Stream, "_write_record_message", ["record"]),
        (Stream, "_process_record", ["record", "child_context", "partition_context"]),
        (Stream, "_increment_stream_state", ["latest_record", "context"]),
        (Stream, "_write_state_message", []),
        (Stream, "log", ["message", "args", "level", "kwargs"]),
        (PluginBase, "_validate_config", ["raise_errors"]),
        (Tap, "sync_all", []),
    ],
)
def test_private_methods_the_seam_overrides_or_calls(owner, name, expected):
    assert hasattr(owner, name), f"singer-sdk no longer has {owner.__name__}.{name}"
    assert params(getattr(owner, name)) == expected


def test_private_attributes_and_helpers_the_seam_reads():
    init = inspect.getsource(Stream.__init__)
    assert "self._tap = tap" in init and "self._stream_version" in init
    assert "self._config" in inspect.getsource(PluginBase.__init__)
    assert "self._validate_config(" in inspect.getsource(PluginBase.__init__)
    assert params(_catalog.pop_deselected_record_properties)[:3] == ["record", "schema", "mask"]
    assert hasattr(sdk_msgspec.encoder, "encode_into")
    write_state = inspect.getsource(Stream._write_state_message)
    assert "if not self.state_manager.is_flushed:" in write_state  # our flag is what it reads
    assert PAGINATION_STOPPED in inspect.getsource(inspect.getmodule(RESTStream))
    assert "self._LOG_REQUEST_METRICS" in inspect.getsource(RESTStream._write_request_duration_log)


def test_the_sdk_still_calls_what_the_seam_overrides():
    sync = inspect.getsource(Stream._sync_records)
    assert "self._write_record_message(" in sync
    assert "self._process_record(" in sync
    assert "self._increment_stream_state(" in inspect.getsource(Stream)


def test_the_sdk_runs_a_tap_through_sync_all():
    """`SeamTap.run_sync` wraps `sync_all`, which the SDK marks final: it must stay the run."""
    assert "sync_all()" in inspect.getsource(Tap.invoke)


def test_the_plugins_extend_the_seam_only():
    from tap_primedata.client import PrimeDataStream
    from tap_primedata.tap import TapPrimeData

    assert issubclass(PrimeDataStream, SeamStream) and issubclass(TapPrimeData, SeamTap)
    assert issubclass(SeamTap, Tap)


def test_only_the_seam_reaches_private_sdk_members():
    from singer_sdk import metrics
    from singer_sdk.pagination import BaseAPIPaginator

    private = private_names((Tap, RESTStream, metrics.Counter, BaseAPIPaginator))
    package = Path(__file__).resolve().parents[2] / "tap_primedata"
    offenders = {
        path.name: uses
        for path in sorted(package.glob("*.py"))
        if path.name != "sdk_seam.py" and (uses := sdk_uses(path, private))
    }
    assert offenders == {}
