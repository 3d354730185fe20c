"""Measuring tools: a sandbox in its own process, and subprocess runs timed with peak RSS."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
POLL_S = 0.05


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SandboxProcess:
    """`cdp-sandbox serve` in a child process on a free port; `stop()` always ends it."""

    def __init__(
        self,
        *,
        profiles: int,
        events_per_profile: int,
        latency_ms: float = 0.0,
        store_bodies: bool = False,
        seed: int = 42,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            str(VENV_BIN / "cdp-sandbox"),
            "serve",
            "--port",
            str(self.port),
            "--profiles",
            str(profiles),
            "--events-per-profile",
            str(events_per_profile),
            "--seed",
            str(seed),
            "--latency-ms",
            str(latency_ms),
        ]
        if not store_bodies:
            self.args.append("--no-store-bodies")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = open(os.devnull, "wb")  # noqa: SIM115 - closed in stop()

    def start(self, timeout: float = 60.0) -> SandboxProcess:
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"cdp-sandbox exited with {self.proc.returncode}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/_sandbox/health", timeout=2).ok:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("cdp-sandbox did not answer /_sandbox/health in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def requests_served(self) -> int:
        """Vendor calls served so far (the sandbox's `/_sandbox/stats` counter)."""
        return int(requests.get(f"{self.url}/_sandbox/stats", timeout=10).json()["requests"])

    def calls(self) -> dict[str, int]:
        body = requests.get(f"{self.url}/_sandbox/received?summary=1", timeout=60).json()
        return body.get("calls", {})

    def reset(self) -> None:
        requests.post(f"{self.url}/_sandbox/reset", timeout=10)

    def set_faults(self, **faults: Any) -> None:
        """Change the injected faults (e.g. `latency_ms`) of the running sandbox."""
        requests.post(f"{self.url}/_sandbox/faults", json=faults, timeout=10).raise_for_status()

    def cpu_s(self) -> float:
        """User + system CPU seconds the sandbox used so far."""
        assert self.proc is not None
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def sandbox(**kwargs: Any) -> Iterator[SandboxProcess]:
    """A started sandbox, stopped whatever happens."""
    box = SandboxProcess(**kwargs)
    try:
        yield box.start()
    finally:
        box.stop()


class PeakRss:
    """Polls the peak resident memory (MiB) of some processes and their children."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.procs = [psutil.Process(p) for p in pids]
        self.peaks = [0.0] * len(pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            for i, proc in enumerate(self.procs):
                with contextlib.suppress(psutil.Error):
                    rss = proc.memory_info().rss
                    for child in proc.children(recursive=True):
                        with contextlib.suppress(psutil.Error):
                            rss += child.memory_info().rss
                    self.peaks[i] = max(self.peaks[i], rss / 2**20)
            self._stop.wait(POLL_S)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class RecordCounter(threading.Thread):
    """Drains a child's stdout, counting Singer RECORD (and STATE) messages; keeps nothing,
    unless `tee` names a file to copy the output to."""

    def __init__(self, stream: IO[bytes], tee: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.tee = tee
        self.records = 0
        self.states = 0
        self.lines = 0
        self.bytes = 0

    def run(self) -> None:
        with open(self.tee or os.devnull, "wb") as sink:
            self._drain(sink if self.tee else None)

    def _drain(self, sink: IO[bytes] | None) -> None:
        tail = b""
        while chunk := self.stream.read(1 << 20):
            if sink is not None:
                sink.write(chunk)
            self.bytes += len(chunk)
            self.lines += chunk.count(b"\n")
            buf = tail + chunk
            self.records += buf.count(b'"RECORD"')
            self.states += buf.count(b'"STATE"')
            tail = buf[-7:]


@dataclass
class Run:
    """What one measured run produced."""

    wall_s: float
    returncodes: list[int]
    peak_rss_mb: list[float]
    records_out: int = 0
    states_out: int = 0
    lines_out: int = 0
    cpu_s: float = 0.0  # user + system CPU seconds of all the commands
    stderr_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(rc == 0 for rc in self.returncodes)


def _tail(path: Path, lines: int = 8) -> list[str]:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return text[-lines:]


def run_pipeline(
    cmds: Sequence[Sequence[str]],
    *,
    stdin: Path | None = None,
    workdir: Path,
    count_output: bool = True,
    timeout: float = 3600,
    tee: Path | None = None,
) -> Run:
    """Run `cmds[0] | cmds[1] | ...`, timing the whole and polling each one's peak RSS.

    The last command's stdout is counted (RECORD/STATE messages), and copied to `tee` if
    given, or sent to /dev/null. Each command's stderr goes to `workdir/stderr-<i>.log`.
    CPU time is that of the waited children (`RUSAGE_CHILDREN`): the commands only, as the
    sandbox and other helpers are still running.
    """
    procs: list[subprocess.Popen[bytes]] = []
    errs = [workdir / f"stderr-{i}.log" for i in range(len(cmds))]
    err_files = [open(p, "wb") for p in errs]  # noqa: SIM115 - closed below
    src = open(stdin, "rb") if stdin else subprocess.DEVNULL  # noqa: SIM115
    cpu_before = _children_cpu()
    start = time.perf_counter()
    try:
        prev: Any = src
        for i, cmd in enumerate(cmds):
            last = i == len(cmds) - 1
            out = subprocess.PIPE if (not last or count_output) else subprocess.DEVNULL
            proc = subprocess.Popen(
                list(cmd),
                stdin=prev,
                stdout=out,
                stderr=err_files[i],
                cwd=workdir,
                env=_child_env(),
            )
            if i > 0 and prev is not None:
                prev.close()  # the child holds it now
            prev = proc.stdout
            procs.append(proc)
        counter = RecordCounter(procs[-1].stdout, tee) if count_output else None  # type: ignore[arg-type]
        with PeakRss([p.pid for p in procs]) as rss:
            if counter:
                counter.start()
            deadline = time.monotonic() + timeout
            for proc in procs:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            if counter:
                counter.join()
        wall = time.perf_counter() - start
        cpu = _children_cpu() - cpu_before
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for f in err_files:
            f.close()
        if stdin:
            src.close()  # type: ignore[union-attr]
    tails = [line for p in errs for line in _tail(p)]
    return Run(
        wall_s=wall,
        returncodes=[p.returncode for p in procs],
        peak_rss_mb=rss.peaks,
        records_out=counter.records if counter else 0,
        states_out=counter.states if counter else 0,
        lines_out=counter.lines if counter else 0,
        cpu_s=cpu,
        stderr_tail=tails,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def python_cmd(module: str, *args: str) -> list[str]:
    """`.venv/bin/python -m module args...` (falls back to this interpreter)."""
    exe = VENV_BIN / "python"
    return [str(exe if exe.exists() else sys.executable), "-m", module, *args]
