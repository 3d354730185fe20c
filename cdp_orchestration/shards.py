"""What one shard of a sharded Meltano pipeline runs, and the checks made before shards start.

Shard `i` of `N` runs `meltano --environment=E run <extractor>--shard<i> <loader>` in the
user's Meltano project. Each shard is an inherited plugin (`inherit_from: <extractor>` in
meltano.yml) because Meltano writes a run's config, catalog and state files to
`.meltano/run/<plugin name>/`: one plugin run N times at once (`--state-id-suffix`) would share
those files. An inherited plugin has its own folder and its own state id,
`E:<extractor>--shard<i>-to-<loader>`. `shard_count` and `shard_index` reach each shard as the
shard plugin's own environment variables, which Meltano ranks above meltano.yml, so `N` is one
setting here and never drifts from what meltano.yml says.

Every worker must see every shard's state and one delivery ledger: Meltano's system database
(`MELTANO_DATABASE_URI`) and target-cdp's `ledger_uri` on a PostgreSQL all workers reach.

The shard count is recorded in Meltano's database as the state id
`E:<extractor>-to-<loader>:shard-count-<N>` (visible in `meltano state list`). Changing `N`
moves lookups between shards, and a moved lookup is read again from `start_date` in its new
shard; so a run with another `N` is refused with one line until `reshard` says it is meant.

Every failure is a `ShardError` with one line naming what to fix; no secret is in it (plugins
redact their own lines; database URLs are shown without their password).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TAIL_LINES = 400  # output lines kept to explain a failure
STOP_GRACE_SECONDS = 30  # after SIGTERM, before SIGKILL, when the caller is interrupted
# Meltano's console lines: `<time> [<level>] <logger/plugin> <message> key=value ...`.
_LINE = re.compile(r"^\S+Z \[(?P<level>\w+)\s*\] (?P<source>\S+)\s+(?P<message>.*)$")
_PLUGIN_FIELDS = re.compile(r"\s+(?:cmd_type|consumer|job_name|name|producer|run_id|stdio)=\S*")
_STILL_RUNNING = re.compile(
    r"Another '(?P<state_id>[^']+)' pipeline is already running which started at "
    r"(?P<started>[^.]+(?:\.\d+)?[^.]*)\. Wait until (?P<until>.+?) when"
)
_DB_ERRORS = ("OperationalError", "could not connect", "Connection refused", "connection failed")


class ShardError(Exception):
    """A shard or the check before the shards failed: `str()` is one line naming what to fix.
    `stopped_by_signal`: the shard's processes were killed, so none of them runs any more."""

    def __init__(self, line: str, *, stopped_by_signal: bool = False) -> None:
        super().__init__(line)
        self.stopped_by_signal = stopped_by_signal


@dataclass(frozen=True)
class ShardResult:
    """A shard that finished: its state id and how long `meltano run` took."""

    index: int
    state_id: str
    seconds: float


@dataclass(frozen=True)
class ShardPlan:
    """A Meltano project's pipeline split into `shard_count` shards.

    `meltano` is the Meltano executable; `env` adds to (or overrides) the inherited environment
    of every Meltano command, e.g. `MELTANO_DATABASE_URI` or `TARGET_CDP_LEDGER_URI`.
    """

    project_dir: Path
    shard_count: int
    environment: str = "prod"
    extractor: str = "tap-primedata"
    loader: str = "target-cdp"
    meltano: str = "meltano"
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shard_count < 1:
            raise ShardError(f"shard_count must be at least 1 (got {self.shard_count})")
        object.__setattr__(self, "project_dir", Path(self.project_dir))

    # names -----------------------------------------------------------------------------------
    def plugin(self, index: int) -> str:
        """The inherited extractor of shard `index`."""
        return f"{self.extractor}--shard{index}"

    def state_id(self, index: int) -> str:
        """Meltano's state id of shard `index`."""
        return f"{self.environment}:{self.plugin(index)}-to-{self.loader}"

    @property
    def layout_prefix(self) -> str:
        return f"{self.environment}:{self.extractor}-to-{self.loader}:shard-count-"

    def command(self, index: int, *, force: bool = False) -> list[str]:
        """The `meltano run` of shard `index` (`force`: ignore a run Meltano still records as
        running, for a shard whose process was killed)."""
        cmd = [self.meltano, f"--environment={self.environment}", "run"]
        return [*cmd, *(["--force"] if force else []), self.plugin(index), self.loader]

    def shard_env(self, index: int) -> dict[str, str]:
        """Environment of shard `index`: its shard settings as its plugin's own variables."""
        prefix = re.sub(r"[^A-Za-z0-9]", "_", self.plugin(index)).upper()
        return {
            **self._base_env(),
            f"{prefix}_SHARD_COUNT": str(self.shard_count),
            f"{prefix}_SHARD_INDEX": str(index),
        }

    def _base_env(self) -> dict[str, str]:
        # NO_COLOR and a wide console: Meltano's errors arrive as plain, unwrapped lines.
        return {**os.environ, "NO_COLOR": "1", "COLUMNS": "1000", **self.env}

    # the check before shards start ----------------------------------------------------------
    def check(self, *, reshard: bool = False) -> list[str]:
        """Check the project and Meltano's database, record the shard count; return the shard
        state ids that already exist. Raises ShardError (one line) on what must be fixed."""
        self._check_project()
        listed = self._meltano("state", "list", "--pattern", f"{self.environment}:*")
        ids = [line.strip() for line in listed.splitlines() if line.startswith(self.environment)]
        recorded = sorted(int(i[len(self.layout_prefix) :]) for i in ids if self._is_layout(i))
        shard_id = re.compile(re.escape(self.state_id(0)).replace("shard0", r"shard(\d+)") + "$")
        found = sorted(int(m[1]) for m in map(shard_id.match, ids) if m)
        if self.shard_count in recorded:  # (another count beside it: a reshard half done)
            before: int | None = self.shard_count
        elif recorded:
            before = recorded[-1]
        else:  # no record: states of shards run by hand count
            before = found[-1] + 1 if found else None
        if before is not None and before != self.shard_count and not reshard:
            seen = f"{self.layout_prefix}{before}" if recorded else self.state_id(before - 1)
            raise ShardError(
                f"shard_count is {self.shard_count} but this pipeline's states were written by "
                f"{before} shards ({seen} in `meltano state list`): set "
                f"shard_count back to {before}, or set reshard once to move to "
                f"{self.shard_count} shards (lookups that change shard are read again from "
                "start_date)"
            )
        if recorded != [self.shard_count]:
            self._record_layout(stale=[n for n in recorded if n != self.shard_count])
        return [self.state_id(i) for i in found]

    def _is_layout(self, state_id: str) -> bool:
        rest = state_id[len(self.layout_prefix) :]
        return state_id.startswith(self.layout_prefix) and rest.isdigit()

    def _record_layout(self, stale: Iterable[int]) -> None:
        value = json.dumps({"singer_state": {"shard_count": self.shard_count}})
        self._meltano("state", "set", "--force", f"{self.layout_prefix}{self.shard_count}", value)
        for n in stale:
            self._meltano("state", "clear", "--force", f"{self.layout_prefix}{n}")

    def _check_project(self) -> None:
        manifest = self.project_dir / "meltano.yml"
        if not manifest.is_file():
            raise ShardError(f"project_dir: no meltano.yml in {self.project_dir}")
        declared = _declared_plugins(manifest)
        for kind, name in (("extractor", self.extractor), ("loader", self.loader)):
            if name not in declared:
                raise ShardError(f"meltano.yml in {self.project_dir} declares no {kind} {name}")
        missing = [i for i in range(self.shard_count) if self.plugin(i) not in declared]
        if missing:
            first = self.plugin(missing[0])
            raise ShardError(
                f"meltano.yml declares no {', '.join(self.plugin(i) for i in missing)}: add one "
                f"inherited extractor per shard (shard_count is {self.shard_count}), e.g. "
                f"`meltano add extractor {first} --inherit-from {self.extractor}`"
            )

    def _meltano(self, *args: str) -> str:
        """Run a short Meltano command in the project; its stdout, or ShardError."""
        try:
            done = subprocess.run(
                [self.meltano, f"--environment={self.environment}", *args],
                cwd=self.project_dir,
                env=self._base_env(),
                capture_output=True,
                text=True,
                timeout=600,
            )
        except FileNotFoundError as exc:
            raise ShardError(f"meltano: executable not found ({self.meltano}): {exc}") from None
        if done.returncode != 0:
            raise ShardError(f"`meltano {args[0]} {args[1]}`: {self.explain(done.stderr)}")
        return done.stdout

    # running a shard ------------------------------------------------------------------------
    def run(
        self,
        index: int,
        *,
        force: bool = False,
        echo: Callable[[str], Any] | None = None,
        started: Callable[[int], Any] | None = None,
    ) -> ShardResult:
        """Run shard `index` to its end. Its output goes to `echo` (default: stderr), line by
        line; `started` receives the process id (its own process group: meltano, tap, target).
        Raises ShardError with one line when it fails; interrupted, the shard is stopped."""
        if not 0 <= index < self.shard_count:
            raise ShardError(f"shard {index} does not exist: shards are 0..{self.shard_count - 1}")
        echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        t0 = time.monotonic()
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        try:
            proc = subprocess.Popen(
                self.command(index, force=force),
                cwd=self.project_dir,
                env=self.shard_env(index),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,  # the shard's processes are one group to stop
            )
        except FileNotFoundError as exc:
            raise ShardError(f"meltano: executable not found ({self.meltano}): {exc}") from None
        if started:
            started(proc.pid)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                echo(line)
            code = proc.wait()
        except BaseException:
            _stop(proc)
            raise
        if code == 0:
            return ShardResult(index, self.state_id(index), time.monotonic() - t0)
        if code < 0:  # meltano was killed: its tap and target must not run on unwatched
            _kill_group(proc.pid)
        line = self.failure(index, code, "\n".join(tail))
        raise ShardError(line, stopped_by_signal=code < 0)

    def failure(self, index: int, code: int, output: str) -> str:
        """One line for shard `index` ending with `code` after printing `output`."""
        where = f"shard {index} ({self.state_id(index)})"
        if code < 0:
            name = signal.Signals(-code).name
            return (
                f"{where} was stopped by {name} mid-run: nothing it delivered is lost and its "
                "state stops at the last STATE the target confirmed; rerun this shard alone "
                "with force (Meltano still records the stopped run as running; a Dagster "
                "re-execution from failure adds it)"
            )
        still = _STILL_RUNNING.search(output)
        if still:
            return (
                f"{where}: Meltano records a run of it as still running (started "
                f"{still['started']}); if no worker is running shard {index} (its process was "
                f"killed), rerun it with force, else wait until {still['until']}"
            )
        return f"{where} failed (exit {code}): {self.explain(output)}"

    def explain(self, output: str) -> str:
        """The line of a failed Meltano command's output that names what to fix."""
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        for line in reversed(lines):  # a plugin's own error line says the most
            parsed = _LINE.match(line)
            if parsed and parsed["source"] in self._plugin_names() and _is_error(parsed):
                return _PLUGIN_FIELDS.sub("", parsed["message"]).strip()
        if any("No module named 'psycopg2'" in line for line in lines):
            return (
                "MELTANO_DATABASE_URI: write postgresql+psycopg://… (Meltano's postgres extra, "
                "psycopg 3), not postgresql://…, which asks for psycopg2"
            )
        database = next((line for line in lines if any(e in line for e in _DB_ERRORS)), None)
        if database:
            return (
                f"Meltano's system database is unreachable ({self._database_shown()}): "
                f"{_after_colon(database)}; check MELTANO_DATABASE_URI (or database_uri)"
            )
        for line in reversed(lines):
            parsed = _LINE.match(line)
            message = parsed["message"] if parsed else line
            if "Need help fixing" not in message and not message.startswith("│"):
                return _PLUGIN_FIELDS.sub("", message).strip()
        return "no output; run the shard's meltano command by hand to see why"

    def _plugin_names(self) -> set[str]:
        return {self.extractor, self.loader, *(self.plugin(i) for i in range(self.shard_count))}

    def _database_shown(self) -> str:
        uri = self._base_env().get("MELTANO_DATABASE_URI")
        if not uri:
            return "database_uri in meltano.yml or the default SQLite file"
        try:
            from sqlalchemy.engine import make_url

            return make_url(uri).render_as_string(hide_password=True)
        except Exception:
            return "MELTANO_DATABASE_URI (unparsable)"


def _is_error(parsed: re.Match[str]) -> bool:
    message = parsed["message"]
    return parsed["level"].lower() in ("error", "critical") or bool(
        re.search(r"\b(ERROR|CRITICAL|FATAL)\b", message)
    )


def _after_colon(line: str) -> str:
    line = re.sub(r"^.*?OperationalError\)?\s*", "", line).strip(" :")
    return line or "connection failed"


def _declared_plugins(manifest: Path) -> set[str]:
    """Plugin names declared in meltano.yml and the files its `include_paths` name."""
    files = [manifest]
    spec = yaml.safe_load(manifest.read_text()) or {}
    for pattern in spec.get("include_paths") or []:
        files.extend(sorted(manifest.parent.glob(pattern)))
    names: set[str] = set()
    for path in files:
        part = spec if path == manifest else (yaml.safe_load(path.read_text()) or {})
        for plugins in (part.get("plugins") or {}).values():
            names.update(p["name"] for p in plugins or [] if isinstance(p, dict) and "name" in p)
    return names


def _stop(proc: subprocess.Popen[str]) -> None:
    """Stop a shard's process group: SIGTERM (Meltano stops its plugins), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)
