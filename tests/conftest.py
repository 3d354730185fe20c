"""Shared fixtures: a real sandbox over HTTP, one per test that asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict

import postgres_server
import pytest
import requests

from cdp_sandbox.config import Faults, SandboxConfig, Workspace
from cdp_sandbox.server import SandboxServer, start_in_thread


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path, monkeypatch) -> None:
    """Each test runs in its own directory: files a run keeps there by default (the delivery
    ledger `target-cdp-ledger.db`, the dead-letter file) never leak between tests."""
    monkeypatch.chdir(tmp_path)


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[postgres_server.PostgresServer]:
    """One real PostgreSQL server for the session (skipped only off CI without binaries)."""
    try:
        server = postgres_server.start()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL binaries absent: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_uri(request, tmp_path) -> str:
    """A fresh ledger: a SQLite file, then a database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    server = request.getfixturevalue("postgres")
    return server.url(server.create_database())
