"""Run one job per lookup on a few threads and hand their output back to one consumer.

Each worker pulls the next job from a shared iterator (so a huge lookup file is read
lazily), runs it, and puts its batches on one bounded queue, in order, followed by an
end marker. The consumer (the stream's `get_records`, on the main thread) emits them.
Memory is bounded: `workers` jobs in flight and at most `queue_size` batches waiting.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

J = TypeVar("J")
logger = logging.getLogger("tap-primedata")
_JOIN_SECONDS = 2.0


@dataclass(slots=True)
class Item(Generic[J]):
    """One message from a worker: a batch of a job, or the job's end (`done`)."""

    job: J
    batch: list[Any] | None = None
    done: bool = False
    error: BaseException | None = None


_WORKER_EXIT = object()


class FanOut(Generic[J]):
    """Iterate `Item`s of `work(job)` over `jobs`, with `workers` jobs running at once."""

    def __init__(
        self,
        jobs: Iterable[J],
        work: Callable[[J], Iterator[list[Any]]],
        *,
        workers: int,
        queue_size: int | None = None,
        name: str = "primedata",
    ) -> None:
        self._jobs = iter(jobs)
        self._work = work
        self._workers = max(1, workers)
        self._queue: queue.Queue[Any] = queue.Queue(queue_size or 2 * self._workers)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._name = name

    def _next_job(self) -> Any:
        with self._lock:
            return next(self._jobs, _WORKER_EXIT)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    job = self._next_job()
                except BaseException as exc:  # the job source itself failed
                    self._put(Item(None, done=True, error=exc))
                    return
                if job is _WORKER_EXIT:
                    return
                try:
                    for batch in self._work(job):
                        if not self._put(Item(job, batch)):
                            return
                    self._put(Item(job, done=True))
                except BaseException as exc:
                    self._put(Item(job, done=True, error=exc))
        finally:
            self._put(_WORKER_EXIT)

    def __iter__(self) -> Iterator[Item[J]]:
        threads = [
            threading.Thread(target=self._run, name=f"{self._name}-{i}", daemon=True)
            for i in range(self._workers)
        ]
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                item = self._queue.get()
                if item is _WORKER_EXIT:
                    running -= 1
                    continue
                yield item
        finally:
            self._stop.set()
            deadline = time.monotonic() + _JOIN_SECONDS
            while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):  # unblock workers on a full queue
                    self._queue.get(timeout=0.05)
            # a worker still alive is mid-request or sleeping out a retry: it is a daemon,
            # it puts nothing more (stop is set) and ends on its own.
