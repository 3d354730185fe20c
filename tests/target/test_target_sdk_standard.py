"""The Singer SDK's standard target tests."""

from __future__ import annotations

from singer_sdk.testing import get_target_test_class

from target_cdp.target import TargetCDP

TestTargetCDP = get_target_test_class(
    TargetCDP,
    config={"dead_letter_path": "/tmp/target-cdp-standard-rejected.jsonl", "progress_seconds": 0},
)
