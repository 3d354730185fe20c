"""End-to-end fixtures: run the real executables against a sandbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import all_lookups

from cdp_demo import configs
from cdp_demo.pipeline import Pipeline, Run


@pytest.fixture
def run(sandbox: Any, tmp_path: Path) -> Callable[..., Run]:
    """`run(n, name=..., state=..., tap=..., target=...)`: the demo's pipeline over the
    first `n` profiles, settings overridable; configs and logs in `tmp_path`."""

    def _run(
        n: int,
        *,
        name: str = "run",
        state: dict[str, Any] | None = None,
        tap: dict[str, Any] | None = None,
        target: dict[str, Any] | None = None,
        timeout: float = 240,
    ) -> Run:
        tap_cfg = configs.tap_config(sandbox.url, sandbox.credentials, **all_lookups(sandbox, n))
        target_cfg = configs.target_config(sandbox.url, sandbox.credentials, tmp_path)
        tap_cfg.update(tap or {})
        target_cfg.update(target or {})
        return Pipeline(tap_cfg, target_cfg, tmp_path, state=state, name=name).wait(timeout)

    return _run
