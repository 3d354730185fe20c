"""A STATE is written while the input pauses: the partial batches before it are flushed on the
STATE itself, not when more input (or the end of input) comes.

With `state_flush_seconds` set, a STATE that comes sooner than that after the last flush
flushes when that time is up, without waiting for more input.

The target runs as the CLI, fed through a pipe that stays open; the test waits (boundedly,
without asserting any duration) for the STATE line on stdout before writing more or closing.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

PEOPLE = {"id": {"type": "string"}, "phone": {"type": "string"}}
PATIENCE = 30.0  # seconds to wait for a STATE before calling it held back


class Piped:
    """`python -m target_cdp` with stdin kept open and stdout read line by line."""

    def __init__(self, config: Path, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "target_cdp", "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, *messages: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        self.proc.stdin.flush()

    def next_state(self) -> Any:
        """The next STATE value on stdout, or None if none comes while the input pauses."""
        try:
            line = self.lines.get(timeout=PATIENCE)
        except queue.Empty:
            return None
        return None if line is None else json.loads(line)

    def close(self) -> tuple[int, list[Any], str]:
        """Close stdin; the exit code, the STATEs written after that, and stderr."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=120)
        rest = []
        while (line := self.lines.get(timeout=10)) is not None:
            rest.append(json.loads(line))
        assert self.proc.stderr is not None
        return code, rest, self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def people(start: int, count: int) -> list[dict[str, Any]]:
    return [
        {"type": "RECORD", "stream": "people", "record": {"id": f"p{n}", "phone": f"0900{n}"}}
        for n in range(start, start + count)
    ]


def start(sandbox: Any, tmp_path: Path, flush_seconds: float, secret: str | None = None) -> Piped:
    """The target on a pipe: people -> Dmartech users, one lane, batches never full here."""
    cfg = {
        "dmartech": {
            "api_url": sandbox.url,
            "secret": secret or sandbox.credentials.dmartech_secret,
            "batch_size": 100,  # never full here: only a flush sends these records
            "max_concurrency": 1,
        },
        "mappings": [
            {
                "stream": "people",
                "destination": "dmartech",
                "type": "user",
                "fields": {"mobile": "phone"},
            }
        ],
        "state_flush_seconds": flush_seconds,  # 0.5: the first STATE comes sooner than that
        "dead_letter_path": str(tmp_path / "dead.jsonl"),
        "progress_seconds": 0,
        "max_retry_wait": 0.2,
    }
    path = tmp_path / "target.json"
    path.write_text(json.dumps(cfg))
    return Piped(path, tmp_path)


@pytest.mark.parametrize("flush_seconds", [0, 0.5])
def test_state_is_written_while_the_input_pauses(sandbox, tmp_path, flush_seconds):
    target = start(sandbox, tmp_path, flush_seconds)
    try:
        target.send(
            {"type": "SCHEMA", "stream": "people", "schema": {"properties": PEOPLE}},
            *people(0, 3),
            {"type": "STATE", "value": {"people": 3}},
        )
        first = target.next_state()
        assert first == {"people": 3}, "the STATE was held back while the input paused"
        # written only after its records were delivered: the sandbox has all three
        assert sandbox.received()["dmartech"]["counts"]["users"] == 3
        target.send(*people(3, 2), {"type": "STATE", "value": {"people": 5}})
        second = target.next_state()
        assert second == {"people": 5}, "the second STATE was held back while the input paused"
        assert sandbox.received()["dmartech"]["counts"]["users"] == 5
        code, rest, stderr = target.close()
    finally:
        target.kill()
    assert code == 0, stderr[-2000:]
    assert rest == []  # nothing new after the end of input: no STATE written twice
    assert sandbox.received()["dmartech"]["imports"] == ["user_batch", "user_batch"]


def test_a_state_right_after_another_waits_for_the_records_before_both(sandbox, tmp_path):
    sandbox.set_faults(latency_ms=300)  # the records are still on their way at both STATEs
    target = start(sandbox, tmp_path, 0)
    try:
        target.send(
            {"type": "SCHEMA", "stream": "people", "schema": {"properties": PEOPLE}},
            *people(0, 3),
            {"type": "STATE", "value": {"people": 3}},
            {"type": "STATE", "value": {"people": 3, "seen": "twice"}},
        )
        states = []
        while not states or states[-1] != {"people": 3, "seen": "twice"}:
            value = target.next_state()
            assert value is not None, "the STATEs were held back while the input paused"
            # whichever STATE is written, the three records before it are delivered
            assert sandbox.received()["dmartech"]["counts"]["users"] == 3, value
            states.append(value)
        code, rest, stderr = target.close()
    finally:
        target.kill()
    assert code == 0, stderr[-2000:]
    assert rest == []


def test_a_run_stopped_before_a_timed_flush_ends_with_one_line(sandbox, tmp_path):
    """The STATE timer fires after the run stopped (wrong secret) while the input pauses: the
    batch it would flush is not sent and the run still ends with one line, no thread traceback."""
    sandbox.set_faults(latency_ms=300)  # the refusal comes after the second record is read
    target = start(sandbox, tmp_path, 2.0, secret="not-the-secret")
    try:
        target.send(
            {"type": "SCHEMA", "stream": "people", "schema": {"properties": PEOPLE}},
            *people(0, 1),
            {"type": "STATE", "value": {"people": 1}},
        )
        stats = f"{sandbox.url}/_sandbox/stats"
        for _ in range(600):  # the first batch is on its way (flushed at once or on the timer)
            if requests.get(stats, timeout=10).json()["requests"] >= 1:
                break
            time.sleep(0.01)
        # read while that batch is still unanswered; the timer for this STATE fires after
        # the refusal has stopped the run
        target.send(*people(1, 1), {"type": "STATE", "value": {"people": 2}})
        time.sleep(3.0)  # the input pauses past the timer (2 s after the first flush)
        code, rest, stderr = target.close()
    finally:
        target.kill()
    assert code != 0
    assert rest == []
    assert "Traceback" not in stderr and "Exception in thread" not in stderr, stderr[-2000:]
    assert "dmartech" in stderr and "dmartech.secret" in stderr, stderr[-2000:]
    assert requests.get(stats, timeout=10).json()["requests"] == 1  # the second never sent
