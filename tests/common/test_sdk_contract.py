"""The Singer SDK members the hardening relies on behave as assumed (fails on an SDK change).

- `singer_sdk.plugin_base.JSONSchemaValidator` validates a config and fills schema defaults
  (`cdp_common.config_errors`);
- `PluginBase._validate_config(raise_errors=...)` is what the constructor calls (both plugins);
- `Sink.process_batch_files` reads JSONL (gzip or not) into `process_batch({"records": [...]})`
  and `helpers._batch.BaseBatchFileEncoding.from_dict` builds its encoding
  (`target_cdp.sdk_seam`, used by `target_cdp.batchfiles`).
"""

from __future__ import annotations

import gzip
import inspect
import json

from singer_sdk.helpers._batch import BaseBatchFileEncoding
from singer_sdk.plugin_base import JSONSchemaValidator, PluginBase
from singer_sdk.sinks import Sink


def test_config_validator_fills_defaults_while_validating():
    schema = {"properties": {"a": {"type": "integer", "default": 3}, "b": {"type": "string"}}}
    config = {"b": 1}
    errors = list(JSONSchemaValidator(schema).iter_errors(config))
    assert [e.validator for e in errors] == ["type"] and config["a"] == 3


def test_plugins_validate_through_validate_config():
    assert "raise_errors" in inspect.signature(PluginBase._validate_config).parameters
    assert "self._validate_config(" in inspect.getsource(PluginBase.__init__)


def test_batch_files_reach_process_batch_as_records(tmp_path):
    plain, packed = tmp_path / "a.jsonl", tmp_path / "b.json.gz"
    plain.write_text(json.dumps({"id": 1}) + "\n")
    with gzip.open(packed, "wt") as out:
        out.write(json.dumps({"id": 2}) + "\n")
    seen: list = []

    class Reader:
        batch_config = None
        record_counter_metric = type("M", (), {"increment": lambda self, n: None})()

        def process_batch(self, context):
            seen.extend(context["records"])

    reader = Reader()
    for path, compression in ((plain, "none"), (packed, "gzip")):
        encoding = BaseBatchFileEncoding.from_dict({"format": "jsonl", "compression": compression})
        Sink.process_batch_files(reader, encoding, [f"file://{path}"])  # type: ignore[arg-type]
    assert seen == [{"id": 1}, {"id": 2}]
