"""Plain-Python baselines doing the same HTTP work as the tap and the target.

    python -m benchmarks.baselines tap --config tap.json [--profiles]   > singer.jsonl
    python -m benchmarks.baselines target --config target.json          < singer.jsonl
        (the first mapping: `event` routes as `event_batch`, `user` routes as `user_batch`;
        a `user` route with a `sqlite:///` `ledger_uri` also remembers what it delivered)
    python -m benchmarks.baselines incremental --config tap.json \
        --state known.json --state-out known-after.json                  > singer.jsonl

They read the very config files the connectors get, use one `requests.Session` per worker
thread, `max_concurrency` workers (like the connectors), and orjson for every (de)serialization.
No validation, no retries, no schema work: the floor our connectors are measured against.
`incremental` is the tap run after run: a plain JSON dict per lookup (see `_lookup_changes`)
in place of the tap's packed state, the same two requests a lookup, only the changes emitted.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import requests

_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _record(stream: str, record: dict[str, Any], extracted: str) -> bytes:
    return (
        orjson.dumps(
            {"type": "RECORD", "stream": stream, "record": record, "time_extracted": extracted}
        )
        + b"\n"
    )


def _rfc3339(value: str) -> str:
    """PrimeData's three spellings (`2023:01:01T20:00:00Z`, `...Z`, naive UTC) -> RFC 3339."""
    return f"{value[:4]}-{value[5:7]}-{value[8:10]}T{value[11:19]}Z"


# -- tap --------------------------------------------------------------------------------
def _profile_events(cfg: dict[str, Any], profile_id: str, with_profiles: bool) -> bytes:
    """All pages of one profile's events (and its profile), as Singer RECORD lines."""
    base, session = cfg["api_url"].rstrip("/"), _session()
    headers = {"x-api-key": cfg["api_key"], "Content-Type": "application/json"}
    extracted = datetime.now(timezone.utc).isoformat()
    out: list[bytes] = []
    if with_profiles:
        body = orjson.dumps({"profile_id": profile_id})
        resp = session.post(f"{base}/pub/profiles/advanced-search", data=body, headers=headers)
        resp.raise_for_status()
        out.append(_record("profiles", orjson.loads(resp.content)["data"], extracted))
    query: dict[str, Any] = {
        "profile_id": profile_id,
        "start": cfg.get("start_date") or "1970-01-01T00:00:00Z",
        "end": cfg.get("end_date") or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sort": "asc",
        "limit": cfg.get("page_size", 100),
    }
    for event in _events(session, base, headers, query):
        event["time_stamp"] = _rfc3339(event["time_stamp"])
        event["sent_at"] = _rfc3339(event["sent_at"])
        out.append(_record("events", event, extracted))
    return b"".join(out)


def _events(
    session: requests.Session, base: str, headers: dict[str, str], query: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Every event `query` finds, page after page (the cursor in `query` moves along)."""
    while True:
        resp = session.post(
            f"{base}/pub/events/advanced-search", data=orjson.dumps(query), headers=headers
        )
        resp.raise_for_status()
        page = orjson.loads(resp.content)
        yield from page.get("data") or []
        cursor = page.get("cursor") or {}
        if not cursor.get("has_more") or not cursor.get("next"):
            return
        query["cursor"] = cursor["next"]


def run_tap(cfg: dict[str, Any], with_profiles: bool) -> int:
    out = sys.stdout.buffer
    for stream in ("profiles", "events") if with_profiles else ("events",):
        out.write(
            orjson.dumps(
                {"type": "SCHEMA", "stream": stream, "schema": {}, "key_properties": ["id"]}
            )
            + b"\n"
        )
    workers = int(cfg.get("max_concurrency") or 1)
    done = 0
    with ThreadPoolExecutor(workers) as pool:
        # a sliding window keeps every worker busy and memory flat however many profiles
        window: deque[Future[bytes]] = deque()
        for pid in [*cfg["profile_ids"], None]:
            if pid is not None:
                window.append(pool.submit(_profile_events, cfg, pid, with_profiles))
            while window and (pid is None or len(window) > workers * 4):
                out.write(window.popleft().result())
                done += 1
                if done % 100 == 0:
                    out.write(orjson.dumps({"type": "STATE", "value": {"done": done}}) + b"\n")
    out.write(orjson.dumps({"type": "STATE", "value": {"done": done}}) + b"\n")
    out.flush()
    return 0


# -- tap, run after run ---------------------------------------------------------------------
Known = list[Any]  # [last_updated, newest time_stamp, [event ids at that time]], RFC 3339


def _second_before(stamp: str) -> str:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ") - timedelta(seconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _lookup_changes(
    cfg: dict[str, Any], profile_id: str, known: Known | None
) -> tuple[bytes, Known]:
    """One lookup's two requests (its profile; its events from a second before the newest
    one emitted before), the records a run after run emits (the profile if `last_updated`
    moved, the events not emitted before) and what to know next time."""
    base, session = cfg["api_url"].rstrip("/"), _session()
    headers = {"x-api-key": cfg["api_key"], "Content-Type": "application/json"}
    extracted = datetime.now(timezone.utc).isoformat()
    last_updated, newest, at_newest = known or (None, None, [])
    out: list[bytes] = []
    body = orjson.dumps({"profile_id": profile_id})
    resp = session.post(f"{base}/pub/profiles/advanced-search", data=body, headers=headers)
    resp.raise_for_status()
    profile = orjson.loads(resp.content)["data"]
    updated = _rfc3339(profile["last_updated"]) if profile.get("last_updated") else None
    if updated is None or updated != last_updated:
        profile["last_updated"] = updated
        out.append(_record("profiles", profile, extracted))
    query: dict[str, Any] = {
        "profile_id": profile_id,
        "start": _second_before(newest) if newest else "1970-01-01T00:00:00Z",
        "end": cfg["_end"],
        "sort": "asc",
        "limit": cfg.get("page_size", 100),
    }
    seen = set(at_newest)
    for event in _events(session, base, headers, query):
        stamp = _rfc3339(event["time_stamp"])
        if newest is not None and (stamp < newest or (stamp == newest and event["id"] in seen)):
            continue
        event["time_stamp"] = stamp
        event["sent_at"] = _rfc3339(event["sent_at"])
        out.append(_record("events", event, extracted))
        if newest is None or stamp > newest:
            newest, at_newest, seen = stamp, [], set()
        at_newest.append(event["id"])
        seen.add(event["id"])
    return b"".join(out), [updated, newest, at_newest]


def run_incremental(cfg: dict[str, Any], state_in: str | None, state_out: str | None) -> int:
    """The tap run after run, with `{profile_id: Known}` as state (JSON files)."""
    known: dict[str, Known] = {}
    if state_in:
        with open(state_in, "rb") as f:
            known = orjson.loads(f.read())
    cfg["_end"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = sys.stdout.buffer
    for stream in ("profiles", "events"):
        out.write(
            orjson.dumps(
                {"type": "SCHEMA", "stream": stream, "schema": {}, "key_properties": ["id"]}
            )
            + b"\n"
        )
    workers = int(cfg.get("max_concurrency") or 1)
    with ThreadPoolExecutor(workers) as pool:
        window: deque[tuple[str, Future[tuple[bytes, Known]]]] = deque()
        for pid in [*cfg["profile_ids"], None]:
            if pid is not None:
                window.append((pid, pool.submit(_lookup_changes, cfg, pid, known.get(pid))))
            while window and (pid is None or len(window) > workers * 4):
                done_pid, future = window.popleft()
                records, known[done_pid] = future.result()
                out.write(records)
    if state_out:
        with open(state_out, "wb") as f:
            f.write(orjson.dumps(known))
    out.write(orjson.dumps({"type": "STATE", "value": {"state": state_out}}) + b"\n")
    out.flush()
    return 0


# -- target -----------------------------------------------------------------------------
def _create_time(value: str) -> str:
    """RFC 3339 UTC `2024-01-02T03:04:05Z` -> Dmartech `2024-01-02 03:04:05`."""
    return value[:10] + " " + value[11:19]


def _get(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _item(record: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """The route's `fields` (dotted paths), with `create_time` in Dmartech's format."""
    item = {k: v for k, src in fields.items() if (v := _get(record, src)) is not None}
    item["create_time"] = _create_time(item["create_time"])
    return item


def _post_batch(url: str, body: bytes) -> int:
    resp = _session().post(url, data=body, headers={"Content-Type": "application/json"})
    answer = orjson.loads(resp.content)
    if resp.status_code != 200 or answer.get("errcode") != 0:
        raise RuntimeError(f"dmartech answered {resp.status_code} {answer.get('errcode')}")
    return 1


class _Remembered:
    """What a diff-on first run keeps so the next run can diff, in plain Python: after each
    delivered batch, one `executemany` of (key, blake2b-128 of the item as sent) into a WAL
    SQLite file, committed per batch."""

    def __init__(self, path: str, key: str) -> None:
        self.key = key
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS sent (key TEXT PRIMARY KEY, hash TEXT)")

    def rows(self, items: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [
            (str(item[self.key]), hashlib.blake2b(
                orjson.dumps(item, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest())
            for item in items
        ]  # fmt: skip

    def delivered(self, rows: list[tuple[str, str]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO sent (key, hash) VALUES (?, ?)", rows)
        self.db.commit()


def _remembered(cfg: dict[str, Any], users: bool) -> _Remembered | None:
    """A `user` route (diff on by default) with a `sqlite:///path` ledger remembers."""
    uri = str(cfg.get("ledger_uri") or "")
    if not users or not uri.startswith("sqlite:///"):
        return None
    return _Remembered(uri.removeprefix("sqlite:///"), (cfg["dmartech"].get("primary_keys")
                                                       or ["user_id"])[0])  # fmt: skip


def _lines() -> Iterator[bytes]:
    yield from sys.stdin.buffer


def run_target(cfg: dict[str, Any]) -> int:
    dm = cfg["dmartech"]
    url = f"{dm['api_url']}?secret={dm['secret']}"
    size = int(dm.get("batch_size") or 100)
    workers = int(cfg.get("max_concurrency") or 1)
    mapping = cfg["mappings"][0]
    users = mapping.get("type") == "user"  # `user_batch` of whole records, else `event_batch`
    fields = mapping.get("fields") or {}
    buffers: dict[str, list[dict[str, Any]]] = {}
    inflight: list[tuple[Future[int], list[tuple[str, str]]]] = []
    sent = received = 0
    out = sys.stdout.buffer
    memory = _remembered(cfg, users)

    def done(fut: Future[int], rows: list[tuple[str, str]]) -> int:
        answered = fut.result()
        if memory is not None:
            memory.delivered(rows)  # only once delivered: what the next run diffs against
        return answered

    with ThreadPoolExecutor(workers) as pool:

        def send(name: str) -> None:
            nonlocal sent, inflight
            props = buffers.pop(name)
            body = orjson.dumps(
                {"type": "user_batch", "properties": props}
                if users
                else {"type": "event_batch", "event": name, "properties": props}
            )
            rows = memory.rows(props) if memory is not None else []
            inflight.append((pool.submit(_post_batch, url, body), rows))
            if len(inflight) >= workers * 2:  # bounded: wait for the oldest half
                for fut, done_rows in inflight[:workers]:
                    sent += done(fut, done_rows)
                inflight = inflight[workers:]

        def drain() -> None:
            nonlocal sent, inflight
            for name in list(buffers):
                send(name)
            for fut, rows in inflight:
                sent += done(fut, rows)
            inflight = []

        for line in _lines():
            msg = orjson.loads(line)
            kind = msg.get("type")
            if kind == "RECORD":
                received += 1
                record = msg["record"]
                if users:  # `...THH:MM:SSZ` as Dmartech takes it, as the target sends it
                    name, item = (
                        "user",
                        {
                            k: v[:10] + " " + v[11:19]
                            if type(v) is str and len(v) == 20 and v[10] == "T" and v[19] == "Z"
                            else v
                            for k, v in record.items()
                            if v is not None
                        },
                    )
                else:
                    name, item = record["event_name"], _item(record, fields)
                buf = buffers.setdefault(name, [])
                buf.append(item)
                if len(buf) >= size:
                    send(name)
            elif kind == "STATE":
                drain()  # a STATE goes out only once everything before it is delivered
                out.write(orjson.dumps(msg["value"]) + b"\n")
        drain()
    out.flush()
    print(f"baseline target: {received} records, {sent} requests", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.baselines", description=__doc__)
    parser.add_argument("role", choices=("tap", "target", "incremental"))
    parser.add_argument("--config", required=True)
    parser.add_argument("--profiles", action="store_true", help="tap: also read each profile")
    parser.add_argument("--state", help="incremental: what the last run knew (JSON)")
    parser.add_argument("--state-out", help="incremental: where to write what this run knows")
    args = parser.parse_args(argv)
    with open(args.config, "rb") as f:
        cfg = orjson.loads(f.read())
    start = time.perf_counter()
    if args.role == "incremental":
        rc = run_incremental(cfg, args.state, args.state_out)
    else:
        rc = run_tap(cfg, args.profiles) if args.role == "tap" else run_target(cfg)
    print(f"baseline {args.role}: {time.perf_counter() - start:.2f}s", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main())
