"""The tap's counters lose nothing when the stream's worker threads count at once.

`RunRequestCounter` (the SDK's `metrics.Counter`, shared by every worker of a stream) and
`Tally` are hammered from many threads while another reads them; the totals must be exact,
and the metric lines plus the last one at `close()` must add up to every request."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from singer_sdk import metrics

from tap_primedata.transport import RunRequestCounter, Tally

THREADS, TIMES = 8, 2_000


class Points(logging.Handler):
    """Collects the values of the METRIC lines a counter logs."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.values.append(record.args[0].value)  # type: ignore[index,union-attr]


def hammer(work: Callable[[], None], read: Callable[[], object]) -> None:
    """Run `work` TIMES on THREADS threads at once while the main thread keeps reading."""
    start = threading.Barrier(THREADS + 1)

    def run() -> None:
        start.wait()
        for _ in range(TIMES):
            work()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    start.wait()
    while any(t.is_alive() for t in threads):
        read()
    for thread in threads:
        thread.join()


def test_request_counter_counts_every_request_from_many_threads() -> None:
    counter = RunRequestCounter(metrics.Metric.HTTP_REQUEST_COUNT, {}, log_interval=0.0)
    points = Points()
    counter.logger = logging.getLogger("test-counters")
    counter.logger.addHandler(points)
    counter.logger.setLevel(logging.INFO)
    try:
        hammer(counter.increment, lambda: counter.total)
        assert counter.total == THREADS * TIMES
        counter.close()
    finally:
        counter.logger.removeHandler(points)
    # every metric line (one per increment at interval 0) and the last one add up exactly
    assert sum(points.values) == THREADS * TIMES
    assert counter.value == 0 and counter.total == THREADS * TIMES


def test_tally_counts_every_addition_from_many_threads() -> None:
    tally = Tally()
    snapshots: list[dict[str, int]] = []

    def work() -> None:
        tally.add("records", 2)
        tally.add(f"skipped_{threading.get_ident() % 3}")

    hammer(work, lambda: snapshots.append(tally.snapshot()))
    counts = tally.snapshot()
    assert counts["records"] == 2 * THREADS * TIMES
    assert sum(v for k, v in counts.items() if k.startswith("skipped_")) == THREADS * TIMES
    assert all(s.get("records", 0) % 2 == 0 for s in snapshots)  # never half an addition
