"""The config schema composes each destination's settings with the generic settings."""

from __future__ import annotations

import logging

from core_fake import FakeDest

from target_cdp.settings import build_config_schema, throttle
from target_cdp.summary import RouteStats
from target_cdp.target import TargetCDP


def test_schema_has_every_destination_and_the_generic_settings():
    props = TargetCDP.config_jsonschema["properties"]
    for name in ("dmartech", "engagelab", "nxcloud"):
        assert props[name]["type"] == "object"
        assert "max_concurrency" in props[name]["properties"]
        assert "requests_per_second" in props[name]["properties"]
    for name in ("mappings", "unmapped_streams", "dead_letter_path", "dry_run", "dry_run_path"):
        assert name in props
    assert props["unmapped_streams"]["enum"] == ["ignore", "fail"]
    assert props["dmartech"]["properties"]["secret"].get("secret") is True


def test_fake_schema_and_throttle_override():
    schema = build_config_schema({"fake": FakeDest})
    assert schema["properties"]["fake"]["properties"]["token"]["secret"] is True
    cfg = {"max_concurrency": 6, "requests_per_second": 5, "fake": {"max_concurrency": 2}}
    limits = throttle(cfg, cfg["fake"])
    assert (limits.max_concurrency, limits.requests_per_second) == (2, 5.0)
    assert throttle({}, {}).max_concurrency == 4 and throttle({}, {}).requests_per_second is None


def test_progress_line(caplog):
    from target_cdp.progress import RouteProgress

    stats = RouteStats("people -> fake:item", received=10, delivered=7, rejected=1)
    caplog.set_level(logging.INFO)
    RouteProgress(10, lambda: [stats], logging.getLogger("t")).log()
    assert "people -> fake:item: received 10, delivered 7, rejected 1" in caplog.text


def test_progress_reads_the_routes_of_a_running_target(sandbox, tmp_path, caplog):
    from core_fake import FakeTarget, config

    target = FakeTarget(config=config(sandbox, tmp_path), parse_env_config=False)
    target.routes_for("people")[0].stats.add(received=4, delivered=3)
    caplog.set_level(logging.INFO)
    target.progress.log()
    target.progress.stop()
    assert "people -> fake:item: received 4, delivered 3, rejected 0" in caplog.text
