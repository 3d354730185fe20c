"""Pre-generated Singer input for the target scenarios: SCHEMA, `events` RECORDs, some STATE.

Records have the shape tap-primedata emits for its `events` stream (design.md), so the very
same target config serves the file scenarios and the tap | target pipeline.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from cdp_sandbox.timeformat import ISO_Z, format_ts, to_rfc3339
from cdp_sandbox.workspace import Workspace

STATE_EVERY = 10_000

EVENTS_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "profile_id": {"type": "string"},
        "event_name": {"type": ["string", "null"]},
        "time_stamp": {"type": "string", "format": "date-time"},
        "sent_at": {"type": ["string", "null"], "format": "date-time"},
        "input_schema_version": {"type": ["string", "null"]},
        "properties": {"type": ["object", "null"], "additionalProperties": True},
    },
    "required": ["id", "profile_id", "time_stamp"],
}


def write_events_file(path: Path, records: int, *, per_profile: int = 100, seed: int = 42) -> Path:
    """Write `records` sandbox events (SCHEMA first, a STATE every 10,000) to `path`, once.

    The events are the sandbox workspace's own, with timestamps normalised to RFC 3339 UTC as
    the tap emits them.
    """
    done = path.with_suffix(".done")
    if path.exists() and done.exists():
        return path
    profiles = -(-records // per_profile)
    ws = Workspace(profiles, per_profile, seed, cache_size=16)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(path, "wb") as out:
        out.write(
            orjson.dumps(
                {
                    "type": "SCHEMA",
                    "stream": "events",
                    "schema": EVENTS_SCHEMA,
                    "key_properties": ["id"],
                    "bookmark_properties": ["time_stamp"],
                }
            )
            + b"\n"
        )
        for i in range(profiles):
            chunk: list[bytes] = []
            pid = ws.profile_id(i)
            for epoch, _, _, raw in ws.select(i, None, None, None, "asc"):
                if written == records:
                    break
                event = orjson.loads(raw)
                event["time_stamp"] = format_ts(int(epoch), ISO_Z)
                event["sent_at"] = to_rfc3339(event["sent_at"])
                chunk.append(
                    orjson.dumps(
                        {
                            "type": "RECORD",
                            "stream": "events",
                            "record": event,
                            "time_extracted": "2025-06-01T00:00:00Z",
                        }
                    )
                )
                written += 1
                if written % STATE_EVERY == 0 or written == records:
                    state = {
                        "bookmarks": {
                            "events": {
                                "partitions": [
                                    {
                                        "context": {"profile_id": pid},
                                        "replication_key": "time_stamp",
                                        "replication_key_value": event["time_stamp"],
                                    }
                                ]
                            }
                        }
                    }
                    chunk.append(orjson.dumps({"type": "STATE", "value": state}))
            if chunk:
                out.write(b"\n".join(chunk) + b"\n")
    done.touch()
    return path
