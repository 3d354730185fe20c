"""Sandbox settings: the credentials each emulated vendor accepts, and the faults to inject."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Faults:
    """Faults injected into every vendor API call (never into `/_sandbox/` calls).

    `error_rate` answers 500/502/503, `drop_rate` closes the connection without an answer,
    `rate_limit` allows that many calls a second and answers 429 with `Retry-After` above it.
    All are decided before the vendor handler runs, so a faulted call changes nothing.
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    rate_limit: float = 0.0
    retry_after: int = 1
    seed: int | None = None


@dataclass
class Credentials:
    """The credentials the sandbox accepts; clients must send exactly these."""

    primedata_api_key: str = "sandbox-primedata-key"
    dmartech_secret: str = "sandbox-dmartech-secret"
    engagelab_api_key: str = "sandbox-engagelab-key"
    engagelab_api_secret: str = "sandbox-engagelab-secret"
    nxcloud_access_key: str = "sandbox-nxcloud-access-key"
    nxcloud_access_secret: str = "sandbox-nxcloud-access-secret"
    nxcloud_tenant_id: int = 144
    nxcloud_app_key: str = "sandbox-app-key"


@dataclass
class Workspace:
    """Shape of the deterministic PrimeData workspace."""

    profiles: int = 100
    events_per_profile: int = 20
    seed: int = 42


@dataclass
class SandboxConfig:
    """Everything a sandbox instance needs."""

    credentials: Credentials = field(default_factory=Credentials)
    workspace: Workspace = field(default_factory=Workspace)
    faults: Faults = field(default_factory=Faults)
    dmartech_primary_keys: tuple[str, ...] = ("mobile", "email", "user_id")
    dmartech_max_batch: int = 1000  # UNKNOWN upstream: the largest batch Dmartech takes
    dmartech_error_status: int = 404  # the vendor doc shows its errcode answers with HTTP 404
    engagelab_max_events: int = 500  # UNKNOWN upstream: the largest /v1/event/report batch
    engagelab_contact_keys: tuple[str, ...] = (
        "mobile_phone",
        "email",
        "whatsapp",
        "line",
        "registration_id",
        "telegram",
        "zalo",
    )
    store_bodies: bool = True
