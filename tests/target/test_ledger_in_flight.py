"""What a run keeps in flight, step by step on a real SQLite ledger file: the order in which
batches are committed and records are read is set here, where over HTTP it would be a race."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from target_cdp.ledger.memory import Mark, Outcome, RouteMemory, RunMemory
from target_cdp.ledger.store import Ledger
from target_cdp.routes import Route
from target_cdp.summary import RouteStats
from target_cdp.vendors.dmartech import Dmartech

ROUTE = Route("users", "dmartech", "user")
DMARTECH = Dmartech({"api_url": "http://127.0.0.1:9/api", "secret": "s", "primary_keys": ["id"]})


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[RouteMemory]:
    """A `user` route with `diff` on, on its first run (a fresh ledger file)."""
    run = RunMemory(Ledger(make_url(f"sqlite:///{tmp_path / 'ledger.db'}")),
                    retry_failed=True, full_resync=False)  # fmt: skip
    route = run.route(ROUTE, DMARTECH, RouteStats(ROUTE.label), diff=True, delete_missing=False)
    run.done = lambda intervals: None
    run.start()
    try:
        yield route
    finally:
        run.finish("ok")


def _mark(memory: RouteMemory, name: str) -> Mark:
    record: dict[str, Any] = {"id": "u1", "name": name}
    return memory.mark("u1", DMARTECH.preparer(ROUTE)(record), record, None)


@pytest.mark.parametrize(("older", "newer"), [("B", "C"), ("C", "B")])  # either hash higher
def test_a_payload_in_flight_is_kept_when_an_older_one_is_committed(
    memory: RouteMemory, older: str, newer: str
) -> None:
    first, second = _mark(memory, older), _mark(memory, newer)
    assert memory.first_run
    assert (memory.decide(first), memory.decide(second)) == (True, True)
    memory.settle(Outcome(delivered=[first]))  # the older batch committed, the newer on its way
    memory.forget_settled()
    assert memory.decide(_mark(memory, newer)) is False, "in flight: nothing new to send"
    assert memory.decide(_mark(memory, older)) is True, "back to the older while it is on its way"


def test_a_committed_payload_leaves_the_in_flight_map(memory: RouteMemory) -> None:
    sent = _mark(memory, "B")
    assert memory.decide(sent) is True
    assert memory.decide(_mark(memory, "B")) is False  # the same payload, still in flight
    memory.settle(Outcome(delivered=[sent]))
    memory.forget_settled()
    assert memory.inflight == {}


def test_a_refusal_ends_the_first_run_shortcut(memory: RouteMemory) -> None:
    refused = _mark(memory, "B")
    assert memory.decide(refused) is True
    memory.settle(Outcome(failed=[(refused, "refused", "bad", "refused by the destination")]))
    # the ledger now holds a failure row: later records go through the window's lookup
    assert memory.decide(_mark(memory, "B")) is None
