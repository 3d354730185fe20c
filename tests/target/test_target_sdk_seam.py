"""The private SDK members `target_cdp/sdk_seam.py` relies on exist as it uses them.

An SDK release that renames or reshapes one fails here, by name, instead of silently skipping
a message type, holding STATE back forever or validating nothing."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sdk_private import private_names, sdk_uses
from singer_sdk import Target
from singer_sdk.helpers import _batch
from singer_sdk.io_base import SingerReader
from singer_sdk.plugin_base import PluginBase
from singer_sdk.singerlib.encoding import GenericSingerReader
from singer_sdk.sinks import Sink
from singer_sdk.sinks import core as sinks_core

from target_cdp.sdk_seam import SeamSink, SeamTarget

PACKAGE = Path(__file__).resolve().parents[2] / "target_cdp"
SDK_PRIVATE = private_names((Target, Sink, GenericSingerReader))


def params(function: Callable[..., Any]) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p != "self"]


@pytest.mark.parametrize(
    ("owner", "name", "expected"),
    [
        (Target, "_process_schema_message", ["message_dict"]),
        (Target, "_process_record_message", ["message_dict"]),
        (Target, "_process_state_message", ["message_dict"]),
        (Target, "_process_activate_version_message", ["message_dict"]),
        (Target, "_process_batch_message", ["message_dict"]),
        (Target, "_write_state_message", ["state"]),
        (Target, "_handle_termination", ["signum", "frame"]),
        (Target, "listen", ["file_input"]),
        (PluginBase, "_validate_config", ["raise_errors"]),
        (Sink, "_add_sdc_metadata_to_record", ["record", "message", "context"]),
        (Sink, "__init__", ["target", "stream_name", "schema", "key_properties"]),
        (sinks_core.BaseJSONSchemaValidator, "validate", ["record"]),
        (_batch.BaseBatchFileEncoding, "from_dict", ["data"]),
    ],
)
def test_private_members_the_seam_overrides_or_calls(
    owner: type, name: str, expected: list[str]
) -> None:
    assert hasattr(owner, name), f"singer-sdk no longer has {owner.__name__}.{name}"
    assert params(getattr(owner, name)) == expected


def test_the_sdk_still_calls_what_the_seam_overrides() -> None:
    lines = inspect.getsource(Target.process_lines)
    for kind in ("schema", "record", "state", "activate_version", "batch"):
        assert f"self._process_{kind}_message" in lines, kind
    listen = inspect.getsource(Target.listen)
    assert "self.process_lines(" in listen and "self.process_endofpipe()" in listen
    init = inspect.getsource(PluginBase.__init__)
    assert "self._config = " in init and "self._validate_config(" in init
    assert "self._setup_signal_handlers()" in init
    handlers = inspect.getsource(PluginBase._setup_signal_handlers)
    assert "self._handle_termination" in handlers  # the SDK's SIGTERM/SIGINT handler
    assert "self._validator" in inspect.getsource(Sink.__init__)
    assert "self.get_validator()" in inspect.getsource(Sink.__init__)
    schema = inspect.getsource(Target._process_schema_message)
    assert "self.get_sink(" in schema  # after it, `get_sink(alias)` is the alias's sink
    batch_files = inspect.getsource(Sink.process_batch_files)
    assert "self.process_batch(" in batch_files and "encoding.compression" in batch_files


def test_public_members_the_target_relies_on() -> None:
    assert params(GenericSingerReader.process_lines) == ["file_input", "callbacks"]
    assert params(GenericSingerReader.assert_line_requires) == ["line_dict", "requires"]
    assert issubclass(SingerReader, GenericSingerReader)
    assert params(Target.get_sink) == ["stream_name", "record", "schema", "key_properties"]
    encoding = _batch.BaseBatchFileEncoding.from_dict({"format": "jsonl", "compression": "gzip"})
    assert (encoding.format, encoding.compression) == ("jsonl", "gzip")


def test_the_plugin_extends_the_seam_only() -> None:
    from target_cdp.sinks import CDPSink
    from target_cdp.target import TargetCDP

    assert issubclass(TargetCDP, SeamTarget) and issubclass(CDPSink, SeamSink)
    for plugin, seam in ((TargetCDP, SeamTarget), (CDPSink, SeamSink)):
        for cls in plugin.__mro__[: plugin.__mro__.index(seam)]:
            private = {n for n in vars(cls) if n in SDK_PRIVATE}
            assert not private, f"{cls.__name__} overrides private SDK members {private}"


def test_only_the_seam_reaches_private_sdk_members() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "sdk_seam.py":
            continue
        uses = sdk_uses(path, SDK_PRIVATE)
        if uses:
            offenders[str(path.relative_to(PACKAGE))] = uses
    assert offenders == {}
