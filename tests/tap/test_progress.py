"""Progress lines on long runs: counts that grow, a total, a rate and an ETA; none when off."""

from __future__ import annotations

import json
import re

from tap_helpers import profile_ids, run_cli, tap_config

from tap_primedata.lookups import LookupSource

LINE = re.compile(
    r"Progress events: ([\d,]+) of (~?[\d,]+|\?) lookups.*?([\d,]+) records, ([\d,]+) requests"
    r".*lookups/s(?:, ETA (\S+))?"
)


def _progress(stderr: str) -> list[tuple[int, str, int, int, str | None]]:
    found = []
    for line in stderr.splitlines():
        match = LINE.search(line)
        if match:
            done, total, records, requests, eta = match.groups()
            num = lambda text: int(text.replace(",", ""))  # noqa: E731
            found.append((num(done), total, num(records), num(requests), eta))
    return found


def test_a_slow_run_shows_growing_progress_with_total_and_eta(sandbox, tmp_path):
    sandbox.set_faults(latency_ms=40)
    lookups = tmp_path / "lookups.jsonl"
    lookups.write_text("".join(json.dumps({"profile_id": p}) + "\n" for p in profile_ids(sandbox)))
    config = tap_config(
        sandbox, profile_ids=None, profiles_file=str(lookups), max_concurrency=1,
        page_size=5, progress_seconds=0.5,
    )  # fmt: skip
    out = run_cli(config, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = _progress(out.stderr)
    assert len(lines) >= 2, out.stderr[-3000:]
    assert all(total == "20" for _, total, *_ in lines)
    dones = [done for done, *_ in lines]
    assert dones == sorted(dones) and dones[-1] > dones[0]
    assert [r for _, _, _, r, _ in lines] == sorted(r for _, _, _, r, _ in lines)
    assert any(eta is not None for *_, eta in lines)
    assert re.search(r"Stream events done in \S+: 20 of 20 lookups \(100%\)", out.stderr)
    assert "Traceback" not in out.stderr


def test_progress_seconds_zero_gives_no_progress_line(sandbox, tmp_path):
    sandbox.set_faults(latency_ms=20)
    out = run_cli(tap_config(sandbox, max_concurrency=1, progress_seconds=0), tmp_path)
    assert out.returncode == 0
    assert not _progress(out.stderr)
    assert "Stream events done" in out.stderr  # the end-of-stream figures stay


def test_counting_lookups_is_cheap_and_shard_aware(tmp_path):
    path = tmp_path / "many.jsonl"
    with path.open("w") as file:
        for i in range(200_000):
            file.write(f'{{"profile_id": "p{i}"}}\n')
    assert LookupSource({"profiles_file": str(path)}).count() == (200_000, False)
    total, approximate = LookupSource(
        {"profiles_file": str(path), "profile_ids": ["x"], "shard_count": 4, "shard_index": 1}
    ).count()
    assert approximate and 49_000 < total < 51_000
    exact = LookupSource({"profile_ids": [f"p{i}" for i in range(100)], "shard_count": 2})
    assert exact.count() == (sum(1 for _ in exact), False)


def test_progress_figures_are_fields_in_structured_logs(sandbox, tmp_path, monkeypatch):
    log_config = tmp_path / "logging.yml"
    log_config.write_text(
        "version: 1\n"
        "disable_existing_loggers: false\n"
        "formatters:\n"
        "  json: {(): singer_sdk.logging.StructuredFormatter}\n"
        "handlers:\n"
        "  stderr: {class: logging.StreamHandler, formatter: json, stream: ext://sys.stderr}\n"
        "root: {level: INFO, handlers: [stderr]}\n"
    )
    monkeypatch.setenv("SINGER_SDK_LOG_CONFIG", str(log_config))
    sandbox.set_faults(latency_ms=20)
    out = run_cli(tap_config(sandbox, max_concurrency=1, progress_seconds=0.3), tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    records = []
    for line in out.stderr.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    figures = [r["extra"]["progress"] for r in records if "progress" in r.get("extra", {})]
    assert figures, out.stderr[-2000:]
    final = [f for f in figures if f["stream"] == "events"][-1]
    assert final["lookups_done"] == final["lookups_total"] == 20
    assert final["records"] > 0 and final["requests"] >= 20
