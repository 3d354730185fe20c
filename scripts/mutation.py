"""Mutation testing of the critical modules with cosmic-ray (run by `scripts/mutate`).

Each target names a module, the parts of it under test (whole module, or some functions) and
the tests relevant to it, fastest first (`-x` stops at the first failure); every mutant runs
only those tests, one mutant at a time. Run from a throwaway copy of the repository
(cosmic-ray edits the module on disk while a mutant runs). A target too big to run whole in
an afternoon has a `sample` size: that many of its mutants, drawn with a fixed seed (the
report says so); `--all` runs every mutant. Surviving mutants listed in `EQUIVALENTS` (the
same change to the same line text) are reported as equivalent, with the reason.
The targets and the known equivalent mutants are in `mutation_targets.py`.
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
from pathlib import Path

from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult
from mutation_targets import EQUIVALENTS, EXCLUDED_OPERATORS, SAMPLE_SEED, TARGETS, Target

MIN_TIMEOUT, TIMEOUT_FACTOR = 60.0, 4.0  # seconds a mutant's tests may take: baseline x 4


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
