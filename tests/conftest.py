"""Shared fixtures: a real sandbox over HTTP, one per test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import pytest
import requests

from cdp_sandbox.config import Faults, SandboxConfig, Workspace
from cdp_sandbox.server import SandboxServer, start_in_thread


class Sandbox:
    """A running sandbox and helpers to steer and inspect it."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.url = server.url
        self.config: SandboxConfig = server.app.config
        self.credentials = self.config.credentials

    def received(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/received", timeout=10).json()["received"]

    def calls(self) -> dict:
        return requests.get(f"{self.url}/_sandbox/received", timeout=10).json()["calls"]

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", timeout=10)

    def set_faults(self, **faults) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json=asdict(Faults(**faults)), timeout=10)

    def secrets(self) -> list[str]:
        """Every credential value, to grep outputs for."""
        return [
            str(v)
            for k, v in asdict(self.credentials).items()
            if any(s in k for s in ("key", "secret")) and "app_key" not in k
        ]


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Override in a test module to shape the workspace (default: small)."""
    return SandboxConfig(workspace=Workspace(profiles=20, events_per_profile=15, seed=7))


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Iterator[Sandbox]:
    server = start_in_thread(sandbox_config)
    try:
        yield Sandbox(server)
    finally:
        server.shutdown()
        server.server_close()
