"""Mutation testing of the critical modules with cosmic-ray (run by `scripts/mutate`).

Each target names a module, the parts of it under test (whole module, or some functions) and
the tests relevant to it, fastest first (`-x` stops at the first failure); every mutant runs
only those tests, one mutant at a time. Run from a throwaway copy of the repository
(cosmic-ray edits the module on disk while a mutant runs). A target too big to run whole in
an afternoon has a `sample` size: that many of its mutants, drawn with a fixed seed (the
report says so); `--all` runs every mutant. Surviving mutants listed in `EQUIVALENTS` (the
same change to the same line text) are reported as equivalent, with the reason.

Operators left out, as they make no mutant worth a test here:
- `X | Y` rewritten (`BitOr_*`): here `|` only ever builds a type union;
- replacements by `**`, `<<`, `>>`, `&`, `^`, `|`: nothing here does bit arithmetic;
- `==`/`is`, `!=`/`is not` swapped, and `<`-like against `is`: CPython's interning decides;
- cosmic-ray's variable replacer/inserter: random names, mostly NameErrors.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

EXCLUDED_OPERATORS = (
    r"core/ReplaceBinaryOperator_BitOr_\w+$",
    r"core/ReplaceBinaryOperator_\w+_(Pow|LShift|RShift|BitAnd|BitXor|BitOr)$",
    r"core/ReplaceComparisonOperator_(Eq_Is|NotEq_IsNot|Is_Eq|IsNot_NotEq)$",
    r"core/ReplaceComparisonOperator_(Lt|LtE|Gt|GtE)_(Is|IsNot)$",
    r"core/ReplaceComparisonOperator_(Is|IsNot)_(Lt|LtE|Gt|GtE)$",
    r"core/Variable(Replacer|Inserter)$",
)
T = "tests/target/"
P = "tests/tap/"
EDGES = f"{T}test_classify_edges.py"
TAP_RUNS = (f"{P}test_run_after_run.py", f"{P}test_incremental.py")
LEDGER = tuple(
    f"{T}test_ledger_{n}.py"
    for n in ("diff", "keys", "deletes", "failures", "engagelab", "errors", "properties")
)
SQLITE = ("-k", "not postgresql")
SAMPLE_SEED = 16  # the sample of a big target is the same from run to run
MIN_TIMEOUT, TIMEOUT_FACTOR = 60.0, 4.0  # seconds a mutant's tests may take: baseline x 4


@dataclass(frozen=True)
class Target:
    """A module to mutate, the functions in scope (None: all of it) and its tests."""

    module: str
    tests: tuple[str, ...]
    scope: tuple[str, ...] | None = None
    pytest_args: tuple[str, ...] = ()
    sample: int | None = None  # run this many mutants, drawn with SAMPLE_SEED (None: all)


TARGETS = {
    "state": Target(
        "target_cdp/state.py",
        (
            f"{T}test_core_state.py",
            f"{T}test_state_while_input_pauses.py",
            f"{T}test_core_deadletter.py",
            f"{T}test_core_input.py",
        ),
    ),
    "delivery": Target(
        "target_cdp/delivery.py",
        (
            f"{T}test_core_state.py",
            f"{T}test_order_across_kinds.py",
            f"{T}test_vendor_bugs.py",
            f"{T}test_stops.py",
            f"{T}test_backpressure.py",
            f"{T}test_fan_out.py",
            f"{T}test_core_routing.py",
            f"{T}test_core_retries.py",
            f"{T}test_core_deadletter.py",
            f"{T}test_core_input.py",
            f"{T}test_core_vendors.py",
            f"{T}test_engagelab_identity_batches.py",
            f"{T}test_state_while_input_pauses.py",
            "tests/e2e/test_target_progress.py",
            *LEDGER,
        ),
        sample=12,
    ),
    "redact": Target(
        "target_cdp/redact.py",
        (f"{T}test_core_secrets.py", f"{T}test_redaction_strength.py", f"{T}test_core_dryrun.py"),
    ),
    "answers": Target(
        "target_cdp/answers.py",
        tuple(
            f"{T}test_{n}.py"
            for n in ("classify_edges", "answers", "dmartech", "engagelab", "nxcloud")
        ),
        pytest_args=("-k", "classify or code or retry_after or http_errors or stop"),
    ),
    # the tap's bookmarks and their use in the streams
    "bookmarks": Target(
        "tap_primedata/bookmarks.py",
        (f"{P}test_bookmarks.py", f"{P}test_lookup_bookkeeping.py", *TAP_RUNS),
        sample=30,
    ),
    "profile_marks": Target(
        "tap_primedata/profile_marks.py",
        (f"{P}test_bookmarks.py", f"{P}test_run_after_run.py"),
        sample=12,
    ),
    "packing": Target(
        "tap_primedata/packing.py",
        (f"{P}test_bookmarks.py", f"{P}test_run_after_run.py"),
        sample=12,
    ),
    "streams": Target(
        "tap_primedata/streams.py",
        (
            f"{P}test_lookup_bookkeeping.py",
            f"{P}test_state_cadence.py",
            *TAP_RUNS,
            f"{P}test_faults.py",
        ),
        scope=(
            "unique",
            "ProfilesStream.get_records",
            "EventsStream._jobs",
            "EventsStream._fetch",
            "EventsStream.get_records",
        ),
        sample=30,
    ),
    "client": Target(
        "tap_primedata/client.py",
        (
            f"{P}test_state_cadence.py",
            f"{P}test_lookup_bookkeeping.py",
            f"{P}test_faults.py",
            *TAP_RUNS,
        ),
        scope=(
            "Checkpoints.__init__",
            "Checkpoints.count",
            "Checkpoints.maybe",
            "PrimeDataStream.checkpoint",
            "PrimeDataStream._run",
        ),
        sample=25,
    ),
    # the ledger (SQLite and PostgreSQL; the multi-process tests are left to ./scripts/test)
    # (memory and digest are the same on both backends: SQLite only, 3 times faster)
    "ledger_digest": Target("target_cdp/ledger/digest.py", LEDGER, pytest_args=SQLITE),
    "ledger_memory": Target("target_cdp/ledger/memory.py", LEDGER, pytest_args=SQLITE, sample=20),
    "ledger_store": Target(  # the claims between runs: the two-process test
        "target_cdp/ledger/store.py", (*LEDGER, f"{T}test_ledger_processes.py"), sample=15
    ),
}

# Surviving mutants that change nothing a user can see: (target, line before, line after, why).
UNREACHABLE = "fallback for values msgspec cannot encode: JSON input never holds one"
SAME_TEXT = "the text is only ever compared with text made by the same code"
EQUIVALENTS: tuple[tuple[str, str, str, str], ...] = (
    ("ledger_digest", "if type(key) is int:", "if type(key) is not int:",
     "an int key gives the same text either way; other keys a repr as unique as their JSON"),
    ("ledger_digest", "if type(key) is int:", "if type(key) != int:",
     "an int key gives the same text either way; other keys a repr as unique as their JSON"),
    ("ledger_digest", "if type(key) is int:", "if not type(key) is int:",
     "an int key gives the same text either way; other keys a repr as unique as their JSON"),
    ("ledger_digest", 'separators=(",", ":"), ensure_ascii=False)  # fmt: skip',
     'separators=(",", ":"), ensure_ascii=True)  # fmt: skip', SAME_TEXT),
    ("ledger_digest",
     'return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)',
     'return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=True)',
     "ledger text columns are read back with json.loads: escaped or not, the same values"),
    ("ledger_digest", "data = json.dumps(item, default=_plain, sort_keys=True).encode()",
     "data = json.dumps(item, default=_plain, sort_keys=False).encode()", UNREACHABLE),
    ("ledger_digest", "except (TypeError, msgspec.EncodeError):",
     "except (CosmicRayTestingException, msgspec.EncodeError):", UNREACHABLE),
    ("ledger_digest", "return fields if isinstance(fields, dict) else str(value)",
     "return fields if not isinstance(fields, dict) else str(value)", UNREACHABLE),
    ("ledger_digest", "return hashlib.blake2b(data, digest_size=16).hexdigest()",
     "return hashlib.blake2b(data, digest_size= 15).hexdigest()",
     f"a 120-bit digest is as collision-free here; {SAME_TEXT}"),
    ("bookmarks", 'table.offsets = array("I", repeat(0, len(ids) + 1))',
     'table.offsets = array("I", repeat(0, len(ids) + 2))',
     "a row's fingerprints are read from offsets[i] to offsets[i + 1]: a trailing one is unread"),
    ("bookmarks", 'table.offsets = array("I", repeat(0, len(ids) + 1))',
     'table.offsets = array("I", repeat( 1, len(ids) + 1))',
     "equal offsets, whatever their value, give each row no fingerprints"),
    ("bookmarks", 'at_last = {fingerprint(r["id"]) for k, r in reversed(batch) if k == last}',
     'at_last = {fingerprint(r["id"]) for k, r in reversed(batch) if k >= last}',
     "a batch is in ascending time: no key is above its last one"),
    ("bookmarks", "if len(self.fresh) >= FREEZE_ROWS:", "if len(self.fresh) < FREEZE_ROWS:",
     "freezing changed rows at every STATE changes how the STATE is split into tables and "
     "its cost (benchmarks/), never what it covers"),
    ("bookmarks",
     "self.segments = [_Segment(merged, merged.pack(tight=True))] if len(merged) else []",
     "self.segments = [_Segment(merged, merged.pack(tight=False))] if len(merged) else []",
     "the same table either way; bz2 or zlib for its seconds: sizes within 0.5% at 100k"),
    ("client", "self.tap.server_faults += 1", "self.tap.server_faults += 2",
     "the count is only compared with 0 (the exit status)"),
    ("client",
     "self.pending >= self.every_n or time.monotonic() - self.last >= self.every_s",
     "self.pending >= self.every_n or time.monotonic() - self.last > self.every_s",
     "differs only when the clock reads exactly the interval: nothing to see without timing"),
    ("client",
     "self.pending >= self.every_n or time.monotonic() - self.last >= self.every_s",
     "self.pending >= self.every_n or time.monotonic() % self.last >= self.every_s",
     "now % then == now - then while the clock's reading at the run's start is above its "
     "duration"),
    ("client", "yield Item(item.job, done=True, error=error)",
     "yield Item(item.job, done=False, error=error)",
     "the streams read `done` only together with `error is None`"),
    ("ledger_memory", "@property", "",
     "a method is truthy: a real run also remembers this version's keys aside, and those are "
     "never missing anyway"),
    ("ledger_memory", "while len(jobs) < 32:  # whatever else is waiting goes in the same round",
     "while len(jobs) == 32:  # whatever else is waiting goes in the same round",
     "outcomes merged into one transaction or written one by one: the same rows"),
    ("ledger_memory", 'super().__init__(name="ledger-writer", daemon=True)',
     'super().__init__(name="ledger-writer", daemon=False)',
     "every run stops the writer (RunMemory.finish) before it exits"),
    ("ledger_memory",
     "if self.delete_missing and text is not None and isinstance(version, int):",
     "if self.delete_missing and text is not None or isinstance(version, int):",
     "without delete_missing the keys kept aside are dropped unread"),
    ("ledger_memory", 'return old.deleted == (mark.kind != "upsert")',
     'return old.deleted >= (mark.kind != "upsert")',
     "a delete's payload hash never equals a record's, so the hash test decided already"),
    ("ledger_memory", "WINDOW = 1000  # records looked up in one query",
     "WINDOW = 1001  # records looked up in one query",
     "how many records one lookup query reads: the same answers"),
    ("ledger_store", 'if self.dialect == "sqlite":', 'if self.dialect >= "sqlite":',
     "the dialects are sqlite and postgresql, and 'postgresql' < 'sqlite'"),
    ("ledger_store",
     "if self.written >= ANALYZE_AFTER:  # fresh statistics keep the next run's lookups fast",
     "if self.written > ANALYZE_AFTER:  # fresh statistics keep the next run's lookups fast",
     "when the query planner's statistics are refreshed: the same rows, a cost only"),
    ("ledger_store",
     'self._write_lock = threading.Lock() if self.dialect == "sqlite" else None',
     'self._write_lock = threading.Lock() if self.dialect <= "sqlite" else None',
     "PostgreSQL writes of one process taken one at a time too: the same rows, slower"),
    ("ledger_store",
     "query = sa.select(table.c.route_id).where(table.c.route_id == rid).limit(1)",
     "query = sa.select(table.c.route_id).where(table.c.route_id == rid).limit( 2)",
     "only whether a row exists is read"),
    ("ledger_store", "time.sleep(0.1 * (attempt + 1))", "time.sleep(0.1 // (attempt + 1))",
     "how long to wait before trying again to create the tables: time only"),
    ("ledger_store",
     "self.written = 0  # rows this run upserted (a large run refreshes planner statistics)",
     "self.written = 1  # rows this run upserted (a large run refreshes planner statistics)",
     "one row sooner to refresh the planner's statistics: a cost only"),
    ("ledger_store",
     'single = self.dialect == "postgresql" and not (failed or cleared or seen)',
     'single = self.dialect <= "postgresql" and not (failed or cleared or seen)',
     "the dialects are sqlite and postgresql, and 'sqlite' > 'postgresql'"),
    ("ledger_store", "ANALYZE_AFTER = 5_000  # rows written in a run",
     "ANALYZE_AFTER = 5001  # rows written in a run",
     "one row later to refresh the planner's statistics: a cost only"),
    ("ledger_store",
     "self._next_analyze = self.written * 2  # 5k, 10k, 20k, ...: log many times a run",
     "self._next_analyze = self.written * 3  # 5k, 10k, 20k, ...: log many times a run",
     "when statistics are refreshed again: a cost only"),
    ("ledger_store", "if route_id is None or self.empty:", "if route_id is None and self.empty:",
     "a route without an id has no failure rows: the query that follows finds none either"),
    ("answers", "@dataclass(frozen=True)", "@dataclass(frozen=False)",
     "nothing assigns to, or hashes, an Answer or ResultCodes: frozen only documents it"),
    ("delivery", "self._timer.daemon = True", "self._timer.daemon = False",
     "finish() cancels the STATE timer before the run ends"),
    ("profile_marks", "if len(self.emitted) - self.packed_upto >= FREEZE:",
     "if len(self.emitted) - self.packed_upto <= FREEZE:",
     "packing this run's fingerprints at every STATE changes how the STATE is split into "
     "texts and its cost, never what it covers"),
)  # fmt: skip


def scope_lines(path: Path, names: tuple[str, ...]) -> set[int]:
    """The source lines of the named functions (`func` or `Class.method`)."""
    lines: set[int] = set()
    found: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef) and f"{prefix}{child.name}" in names:
                found.add(f"{prefix}{child.name}")
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))

    visit(ast.parse(path.read_text()), "")
    missing = sorted(set(names) - found)
    if missing:
        raise SystemExit(f"{path}: no function named {', '.join(missing)}")
    return lines


def skip_out_of_scope(db: WorkDB, target: Target, root: Path) -> int:
    """Mark excluded operators and mutants outside the scope as skipped; return how many."""
    excluded = re.compile("|".join(f"(?:{e})" for e in EXCLUDED_OPERATORS))
    lines = scope_lines(root / target.module, target.scope) if target.scope else None
    skipped = 0
    for item in list(db.pending_work_items):
        for mutation in item.mutations:
            reason = None
            if excluded.match(mutation.operator_name):
                reason = "excluded operator"
            elif lines is not None and mutation.start_pos[0] not in lines:
                reason = "out of scope"
            if reason:
                db.set_result(
                    item.job_id, WorkResult(output=reason, worker_outcome=WorkerOutcome.SKIPPED)
                )
                skipped += 1
                break
    return skipped


def skip_unsampled(db: WorkDB, size: int) -> int:
    """Keep `size` pending mutants, drawn with SAMPLE_SEED; mark the rest skipped."""
    pending = sorted(db.pending_work_items, key=lambda item: item.job_id)
    if len(pending) <= size:
        return 0
    kept = {item.job_id for item in random.Random(SAMPLE_SEED).sample(pending, size)}
    for item in pending:
        if item.job_id not in kept:
            db.set_result(
                item.job_id, WorkResult(output="not sampled", worker_outcome=WorkerOutcome.SKIPPED)
            )
    return len(pending) - size


def test_command(target: Target) -> str:
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:xdist", "-p", "no:cacheprovider"]
    return shlex.join([*args, *target.pytest_args, *target.tests])


def run_target(
    name: str, target: Target, root: Path, out: Path, *, whole: bool, survivors: bool
) -> dict:
    """Init, filter, baseline and run one target's session; return its figures.

    `survivors`: run again only the mutants that survived the target's last session (after
    new tests), keeping every other result of it.
    """
    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    config, session = work / "config.toml", work / "session.sqlite"
    if survivors and not session.exists():
        raise SystemExit(f"{name}: no earlier session in {work} to run the survivors of")
    if not survivors:
        session.unlink(missing_ok=True)
    started = time.monotonic()
    baseline = subprocess.run(shlex.split(test_command(target)), cwd=root, check=False)
    if baseline.returncode != 0:
        raise SystemExit(f"{name}: the tests fail without any mutant; fix them first")
    # a mutant that hangs (a lane never started, a loop never left) is killed by a timeout
    timeout = max(MIN_TIMEOUT, TIMEOUT_FACTOR * (time.monotonic() - started))
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(target.module)}\n"
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(target))}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
    )
    if survivors:  # every survivor not known to be equivalent
        with sqlite3.connect(session) as db:
            rows = db.execute(
                "SELECT job_id, diff FROM work_results WHERE upper(test_outcome) = 'SURVIVED'"
            ).fetchall()
            again = [(job,) for job, diff in rows if not equivalence(name, changed_lines(diff))]
            db.executemany("DELETE FROM work_results WHERE job_id = ?", again)
        print(f"{name}: {len(again)} survivors to run again", flush=True)
    else:
        subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=root, check=True)
        with use_db(str(session)) as db:
            total = db.num_work_items
            skipped = skip_out_of_scope(db, target, root)
            unsampled = 0 if whole or target.sample is None else skip_unsampled(db, target.sample)
        print(
            f"{name}: {total - skipped - unsampled} mutants to run of {total - skipped} "
            f"({skipped} out of scope or excluded)",
            flush=True,
        )
    subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=root, check=True)
    seconds = time.monotonic() - started
    earlier = out / f"{name}.json"
    if survivors and earlier.exists():  # the time of the whole session, both runs
        seconds += json.loads(earlier.read_text())["seconds"]
    return summarize(name, target, session, seconds)


def summarize(name: str, target: Target, session: Path, seconds: float) -> dict:
    killed = incompetent = in_scope = 0
    survivors = []
    equivalents = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome is WorkerOutcome.SKIPPED:
                in_scope += result.output == "not sampled"
                continue
            in_scope += 1
            if result.test_outcome is TestOutcome.SURVIVED:
                mutation = item.mutations[0]
                changed = changed_lines(result.diff)
                survivor = {
                    "line": mutation.start_pos[0],
                    "operator": mutation.operator_name.removeprefix("core/"),
                    "diff": changed,
                }
                reason = equivalence(name, changed)
                if reason:
                    equivalents.append({**survivor, "reason": reason})
                else:
                    survivors.append(survivor)
            elif result.test_outcome is TestOutcome.INCOMPETENT:
                incompetent += 1
            else:
                killed += 1
    run = killed + incompetent + len(survivors) + len(equivalents)
    competent = run - len(equivalents)
    return {
        "target": name,
        "module": target.module,
        "scope": list(target.scope or ["(whole module)"]),
        "in_scope": in_scope,
        "mutants": run,
        "killed": killed + incompetent,
        "incompetent": incompetent,
        "equivalent": len(equivalents),
        "survived": len(survivors),
        "score": round(100 * (killed + incompetent) / competent, 1) if competent else None,
        "seconds": round(seconds),
        "survivors": sorted(survivors, key=lambda s: s["line"]),
        "equivalents": sorted(equivalents, key=lambda s: s["line"]),
    }


def changed_lines(diff: str | None) -> list[str]:
    """The removed and added lines of a mutant's diff."""
    return [
        line
        for line in (diff or "").splitlines()
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def equivalence(target: str, diff: list[str]) -> str | None:
    """The reason a surviving mutant is equivalent, when `EQUIVALENTS` lists its change."""
    removed = tuple(line[1:].strip() for line in diff if line.startswith("-") and line[1:].strip())
    added = tuple(line[1:].strip() for line in diff if line.startswith("+") and line[1:].strip())
    for name, before, after, reason in EQUIVALENTS:
        if name == target and (before,) == removed and tuple(filter(None, [after])) == added:
            return reason
    return None


def report(results: list[dict]) -> str:
    lines = [
        "| target | scope | killed / mutants run (in scope) | equivalent | survived | score "
        "| time |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        sampled = "" if r["mutants"] == r["in_scope"] else f" (sample of {r['in_scope']})"
        lines.append(
            f"| {r['target']} | {', '.join(r['scope'])} | {r['killed']} / {r['mutants']}"
            f"{sampled} | {r['equivalent']} | {r['survived']} | {r['score']}% "
            f"| {r['seconds']} s |"
        )
    lines += ["", "Score: killed / (mutants run - equivalent)."]
    for r in results:
        if r["survivors"]:
            lines += ["", f"Surviving in {r['module']}:"]
            for s in r["survivors"]:
                lines.append(f"- line {s['line']} {s['operator']}: {' / '.join(s['diff'])}")
        if r["equivalents"]:
            lines += ["", f"Equivalent in {r['module']}:"]
            for s in r["equivalents"]:
                lines.append(
                    f"- line {s['line']} {s['operator']}: {' / '.join(s['diff'])} ({s['reason']})"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"some of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--root", type=Path, required=True, help="the repository copy to mutate")
    parser.add_argument("--out", type=Path, required=True, help="where sessions and reports go")
    parser.add_argument("--all", action="store_true", help="every mutant of a sampled target")
    parser.add_argument(
        "--survivors", action="store_true", help="run again only the last session's survivors"
    )
    parser.add_argument(
        "--report", action="store_true", help="only summarize the last sessions, run nothing"
    )
    args = parser.parse_args()
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    results = []
    for name in names:
        if args.report:
            earlier = args.out / f"{name}.json"
            seconds = json.loads(earlier.read_text())["seconds"] if earlier.exists() else 0
            session = args.out / name / "session.sqlite"
            results.append(summarize(name, TARGETS[name], session, seconds))
        else:
            results.append(
                run_target(
                    name,
                    TARGETS[name],
                    args.root,
                    args.out,
                    whole=args.all,
                    survivors=args.survivors,
                )
            )
        (args.out / f"{name}.json").write_text(json.dumps(results[-1], indent=1))
    text = report(results)
    (args.out / "report.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
