"""The shipped Dagster job (`cdp_orchestration.dagster_job`) end to end: 4 shards on Dagster's
multiprocess executor, Meltano's system database and target-cdp's ledger on one real PostgreSQL
server, one sandbox. Run 1 delivers every record exactly once across the shards; run 2 only
what changed; a shard killed mid-run and rerun alone loses nothing. Bad input (another shard
count, an unreachable Meltano database or ledger) ends with one line naming what to fix, and a
rerun loses nothing.

Small on purpose (CI: 2 cores); the large run is the `shards` benchmark scenario.
Deselect with `-m "not dagster"`.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from e2e_helpers import assert_no_secrets, expected, holdings
from postgres_server import PASSWORD
from shard_helpers import (
    MELTANO,
    kill_shard_when_reading,
    make_project,
    pipeline_env,
    run_job,
    write_lookups,
)

from cdp_orchestration.shards import ShardPlan
from cdp_sandbox.config import SandboxConfig, Workspace
from tap_primedata.lookups import Lookup

dg = pytest.importorskip("dagster")  # the `dagster` extra (scripts/test installs it)
pytestmark = [pytest.mark.meltano, pytest.mark.dagster]

SHARDS = 4
PROFILES = 40
EVENTS = 3


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(workspace=Workspace(profiles=PROFILES, events_per_profile=EVENTS, seed=13))


@pytest.fixture
def instance(tmp_path):
    """A Dagster instance in a temporary DAGSTER_HOME (runs, events and compute logs)."""
    home = tmp_path / "dagster"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture
def shard_env(sandbox, postgres, tmp_path, monkeypatch):
    """A project with 4 shard extractors; Meltano's database and the ledger on PostgreSQL;
    the workers' environment set (the job's step processes inherit it)."""
    if not MELTANO.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{MELTANO} is missing: scripts/bootstrap installs it")
        pytest.skip("meltano is not installed in this venv")
    project = make_project(tmp_path, SHARDS)
    lookups = tmp_path / "profiles.jsonl"
    write_lookups(lookups, sandbox.server.app.primedata, PROFILES)
    meltano_db = postgres.url(postgres.create_database())
    ledger = postgres.url(postgres.create_database())
    env = pipeline_env(sandbox, project, lookups, meltano_db, ledger)
    env["CDP_SHARDS_COUNT"] = str(SHARDS)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _add_events(sandbox, indices, name="PageView") -> set[str]:
    ws, ids = sandbox.server.app.primedata, set()
    for i in indices:
        added = requests.post(
            f"{sandbox.url}/_sandbox/primedata/events",
            json={
                "profile_id": ws.profile_id(i),
                "events": [{"event_name": name, "time_stamp": _now(), "properties": {}}],
            },
            timeout=10,
        )
        assert added.status_code == 200, added.text
        ids |= set(added.json()["ids"])
    return ids


def _change_profiles(sandbox, indices) -> None:
    ws = sandbox.server.app.primedata
    for i in indices:
        changed = requests.post(
            f"{sandbox.url}/_sandbox/primedata/profiles",
            json={"profile_id": ws.profile_id(i), "trait": {"full_name": f"Renamed {i}"}},
            timeout=10,
        )
        assert changed.status_code == 200, changed.text


def _counts(sandbox) -> dict[str, int]:
    have = holdings(sandbox)
    c = have["counts"]
    return {
        "dmartech_users": c["dmartech"]["users"],
        "dmartech_events": c["dmartech"]["events"],
        "engagelab_events": c["engagelab"]["events"],
        "nxcloud_customers": c["nxcloud"]["customers"],
        "duplicates": sum(have["duplicates"].values()),
    }


def _shard_of(ws, i: int) -> int:
    """The shard (of 4) of profile i's lookup, as the tap assigns it."""
    lookup = (
        Lookup(ws.profile_id(i)) if i % 2 == 0 else Lookup(ws.identities(i)["email"][0], "email")
    )
    return lookup.id % SHARDS


def _assert_one_line(text: str, *names: str) -> None:
    assert "\n" not in text.strip() and "Traceback" not in text, text
    for name in names:
        assert name in text, f"{name!r} not in {text!r}"
    assert PASSWORD not in text and "s3cr3t" not in text, "the database password shows"


def test_four_shards_deliver_once_then_only_changes_and_a_killed_shard_loses_nothing(
    sandbox, shard_env, instance, tmp_path, monkeypatch
):
    ws = sandbox.server.app.primedata

    # Run 1: every profile and event, exactly once across the four shards.
    first = run_job(instance, "first")
    assert first.success, first.failures
    want = expected(sandbox, PROFILES)
    have = holdings(sandbox)
    assert have["dmartech_users"] == want.profile_ids
    assert have["dmartech_events"] == want.event_ids == have["engagelab_events"]
    assert have["nxcloud_emails"] == want.emails
    assert _counts(sandbox) == {
        "dmartech_users": PROFILES,
        "dmartech_events": PROFILES * EVENTS,
        "engagelab_events": PROFILES * EVENTS,
        "nxcloud_customers": PROFILES,
        "duplicates": 0,
    }

    # Each shard has its own state id in the one Meltano database on PostgreSQL.
    project = Path(shard_env["CDP_SHARDS_PROJECT_DIR"])
    plan = ShardPlan(project, SHARDS, environment="sandbox", meltano=str(MELTANO))
    assert plan.check() == [f"sandbox:tap-primedata--shard{i}-to-target-cdp" for i in range(4)]

    # Run 2: only what changed in between (new events on 5 profiles, 3 profiles renamed).
    new_events = _add_events(sandbox, [0, 7, 13, 22, 39])
    _change_profiles(sandbox, [3, 18, 31])
    before = _counts(sandbox)
    second = run_job(instance, "second")
    assert second.success, second.failures
    after = _counts(sandbox)
    assert after["dmartech_events"] - before["dmartech_events"] == len(new_events)
    assert after["engagelab_events"] - before["engagelab_events"] == len(new_events)
    assert after["dmartech_users"] - before["dmartech_users"] == 3
    assert after["nxcloud_customers"] - before["nxcloud_customers"] == 3
    assert after["duplicates"] == 0
    assert holdings(sandbox)["dmartech_events"] == want.event_ids | new_events

    # Another shard count: refused with one line before any shard runs; nothing sent.
    monkeypatch.setenv("CDP_SHARDS_COUNT", "3")
    refused = run_job(instance, "refused")
    assert not refused.success
    _assert_one_line(
        refused.failures["plan_shards"], "shard_count is 3", "set shard_count back to 4"
    )
    assert list(refused.failures) == ["plan_shards"]
    assert _counts(sandbox) == after
    monkeypatch.setenv("CDP_SHARDS_COUNT", str(SHARDS))

    # Run 3: one new event per profile; shard 2 is slow and its processes are killed mid-run.
    third_events = _add_events(sandbox, range(PROFILES), name="AppOpened")
    sandbox.set_faults(latency_ms=300)
    monkeypatch.setenv("TAP_PRIMEDATA__SHARD2_MAX_CONCURRENCY", "1")
    killed_at: list[float] = []
    killer = threading.Thread(
        target=lambda: killed_at.append(kill_shard_when_reading("tap-primedata--shard2", 2.5))
    )
    killer.start()
    third = run_job(instance, "third")
    killer.join()
    assert killed_at, "shard 2 was never killed"
    assert not third.success
    assert set(third.failures) == {"run_shard[shard2]"}, third.failures
    _assert_one_line(third.failures["run_shard[shard2]"], "shard 2", "SIGKILL", "force")

    # Rerun shard 2 alone. Meltano still records the killed run as running (until its heartbeat
    # is 5 minutes old): launched plainly, one line says to add `force`; Dagster's "Re-execute
    # from failure" knows the shard was killed and adds it. It resumes from its state.
    sandbox.set_faults(latency_ms=0)
    runs = [first, second, refused, third]
    if time.monotonic() - killed_at[0] < 240:
        blocked = run_job(instance, "blocked", only_shards=[2])
        assert set(blocked.failures) == {"run_shard[shard2]"}, blocked.failures
        _assert_one_line(blocked.failures["run_shard[shard2]"], "still running", "force")
        runs.append(blocked)
    rerun = run_job(instance, "re-executed", reexecute=third.run_id)
    assert rerun.success, rerun.failures
    assert [k for k in rerun.steps if k.startswith("run_shard")] == ["run_shard[shard2]"]
    runs.append(rerun)
    everything = want.event_ids | new_events | third_events
    have = holdings(sandbox)
    assert have["dmartech_events"] == everything
    assert have["engagelab_events"] == everything
    assert have["dmartech_users"] == want.profile_ids
    # Only events shard 2 read in run 3 but had not confirmed may have been sent twice.
    in_shard2 = [i for i in range(PROFILES) if _shard_of(ws, i) == 2]
    assert 0 < len(in_shard2) < PROFILES
    assert _counts(sandbox)["duplicates"] <= 2 * len(in_shard2)

    print("\n" + ", ".join(f"{r.label} {r.seconds:.1f} s" for r in runs))
    assert_no_secrets(
        sandbox,
        tmp_path / "dagster",
        tmp_path / "project" / ".meltano" / "logs",
        texts=tuple(str(r.failures) for r in runs),
    )
    _assert_no_database_password(tmp_path / "dagster", tmp_path / "project" / ".meltano" / "logs")


def _assert_no_database_password(*folders: Path) -> None:
    """The PostgreSQL password (raw, URL-encoded, base64) is in no log or compute log."""
    forms = (PASSWORD, quote(PASSWORD, safe=""), base64.b64encode(PASSWORD.encode()).decode())
    for folder in folders:
        for path in (p for p in folder.rglob("*") if p.is_file()):
            text = path.read_text(errors="replace")
            assert not any(form in text for form in forms), f"the password is in {path}"


def test_unreachable_meltano_database_or_ledger_is_one_line_and_a_rerun_loses_nothing(
    sandbox, shard_env, instance, monkeypatch
):
    closed = _closed_port()
    good_db, good_ledger = shard_env["MELTANO_DATABASE_URI"], shard_env["TARGET_CDP_LEDGER_URI"]
    monkeypatch.setenv("CDP_SHARDS_COUNT", "2")

    monkeypatch.setenv(
        "MELTANO_DATABASE_URI",
        f"postgresql+psycopg://cdp:{quote(PASSWORD, safe='')}@127.0.0.1:{closed}/meltano",
    )
    no_db = run_job(instance, "no_db")
    assert list(no_db.failures) == ["plan_shards"], no_db.failures
    _assert_one_line(no_db.failures["plan_shards"], "MELTANO_DATABASE_URI", "unreachable")
    monkeypatch.setenv("MELTANO_DATABASE_URI", good_db)

    monkeypatch.setenv("TARGET_CDP_LEDGER_URI", f"postgresql://cdp:x@127.0.0.1:{closed}/ledger")
    no_ledger = run_job(instance, "no_ledger")
    assert set(no_ledger.failures) == {"run_shard[shard0]", "run_shard[shard1]"}
    for line in no_ledger.failures.values():
        _assert_one_line(line, "ledger_uri")
    assert _counts(sandbox)["dmartech_users"] == 0, "sent before the ledger was open"
    monkeypatch.setenv("TARGET_CDP_LEDGER_URI", good_ledger)

    fixed = run_job(instance, "fixed")
    assert fixed.success, fixed.failures
    want = expected(sandbox, PROFILES)
    have = holdings(sandbox)
    assert have["dmartech_users"] == want.profile_ids
    assert have["dmartech_events"] == want.event_ids
    assert _counts(sandbox)["duplicates"] == 0


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_missing_shard_extractor_is_one_line_naming_the_meltano_add_command(tmp_path):
    from cdp_orchestration.shards import ShardError, ShardPlan

    project = make_project(tmp_path, 2)
    plan = ShardPlan(project_dir=project, shard_count=4, environment="sandbox")
    with pytest.raises(ShardError) as err:
        plan.check()
    _assert_one_line(
        str(err.value),
        "tap-primedata--shard2, tap-primedata--shard3",
        "meltano add extractor tap-primedata--shard2 --inherit-from tap-primedata",
    )


def test_shard_count_is_recorded_refused_when_changed_and_changed_on_purpose_with_reshard(
    tmp_path, monkeypatch
):
    from cdp_orchestration.shards import ShardError, ShardPlan

    if not MELTANO.exists():
        pytest.skip("meltano is not installed in this venv")
    project = make_project(tmp_path, 4)
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{tmp_path / 'meltano.db'}")
    monkeypatch.setenv("MELTANO_SEND_ANONYMOUS_USAGE_STATS", "false")

    def plan(n: int) -> ShardPlan:
        return ShardPlan(project, shard_count=n, environment="sandbox", meltano=str(MELTANO))

    assert plan(4).check() == []  # records 4
    with pytest.raises(ShardError) as err:
        plan(3).check()
    _assert_one_line(str(err.value), "shard_count is 3", "written by 4 shards", "reshard")
    assert plan(3).check(reshard=True) == []  # records 3, forgets 4
    assert plan(3).check() == []
    with pytest.raises(ShardError) as err:
        plan(4).check()
    _assert_one_line(str(err.value), "shard_count is 4", "written by 3 shards")


def test_shard_env_overrides_meltano_yml_shard_settings(tmp_path):
    from cdp_orchestration.shards import ShardPlan

    plan = ShardPlan(project_dir=Path(tmp_path), shard_count=4, environment="prod")
    env = plan.shard_env(1)
    assert env["TAP_PRIMEDATA__SHARD1_SHARD_COUNT"] == "4"
    assert env["TAP_PRIMEDATA__SHARD1_SHARD_INDEX"] == "1"
    assert plan.command(1) == [
        "meltano", "--environment=prod", "run", "tap-primedata--shard1", "target-cdp",
    ]  # fmt: skip
    assert plan.state_id(1) == "prod:tap-primedata--shard1-to-target-cdp"
