"""The ledger writer thread: delivered batches' outcomes written while lanes go on sending."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Protocol

from target_cdp.ledger.marks import Outcome


class Settles(Protocol):
    """What records a batch's outcome in the ledger (`RouteMemory`)."""

    def settle(self, outcome: Outcome) -> None: ...


class Writer(threading.Thread):
    """Writes delivered batches' outcomes to the ledger so lanes go on sending meanwhile.

    Outcomes are written in the order lanes hand them over (a key's batches come from one
    lane, in order); consecutive outcomes of one route are merged into one transaction. Only
    after the commit are the batch's records released (`then`), so a STATE still waits for
    the ledger. A ledger error stops the run (`on_error`) and releases nothing more.
    """

    def __init__(self) -> None:
        super().__init__(name="ledger-writer", daemon=True)
        self.queue: queue.Queue[tuple[Settles, Outcome, Callable[[], None]] | None] = queue.Queue(
            64
        )
        self.on_error: Callable[[Exception], None] = lambda exc: None
        self.failed = False

    def submit(self, memory: Settles, outcome: Outcome, then: Callable[[], None]) -> None:
        self.queue.put((memory, outcome, then))

    def flush(self) -> None:
        """Wait until everything handed over is written (or the writer failed)."""
        self.queue.join()

    def run(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                self.queue.task_done()
                return
            jobs = [job]
            while len(jobs) < 32:  # whatever else is waiting goes in the same round
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.queue.put(None)  # handled after this round
                    self.queue.task_done()
                    break
                jobs.append(more)
            try:
                self._write(jobs)
            finally:
                for _ in jobs:
                    self.queue.task_done()

    def _write(self, jobs: list[tuple[Settles, Outcome, Callable[[], None]]]) -> None:
        if self.failed:
            return
        try:
            start = 0
            while start < len(jobs):  # runs of one route: one transaction each
                memory = jobs[start][0]
                end = start
                merged = Outcome()
                while end < len(jobs) and jobs[end][0] is memory:
                    merged.delivered += jobs[end][1].delivered
                    merged.failed += jobs[end][1].failed
                    end += 1
                memory.settle(merged)
                for _, _, then in jobs[start:end]:
                    then()
                start = end
        except Exception as exc:
            self.failed = True
            self.on_error(exc)

    def stop(self) -> None:
        if self.is_alive():
            self.queue.put(None)
            self.join()
