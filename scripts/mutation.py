"""Mutation testing of the critical target modules with cosmic-ray (run by `scripts/mutate`).

Each target names a module, the parts of it under test (whole module, or some functions) and
the tests relevant to it; every mutant runs only those tests, one mutant at a time. Run from a
throwaway copy of the repository (cosmic-ray edits the module on disk while a mutant runs).

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
import re
import shlex
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
EDGES = f"{T}test_classify_edges.py"
MIN_TIMEOUT, TIMEOUT_FACTOR = 60.0, 4.0  # seconds a mutant's tests may take: baseline x 4


@dataclass(frozen=True)
class Target:
    """A module to mutate, the functions in scope (None: all of it) and its tests."""

    module: str
    tests: tuple[str, ...]
    scope: tuple[str, ...] | None = None
    pytest_args: tuple[str, ...] = ()


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
        ),
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
}


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


def test_command(target: Target) -> str:
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:xdist", "-p", "no:cacheprovider"]
    return shlex.join([*args, *target.pytest_args, *target.tests])


def run_target(name: str, target: Target, root: Path, out: Path) -> dict:
    """Init, filter, baseline and run one target's session; return its figures."""
    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    config, session = work / "config.toml", work / "session.sqlite"
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
    subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=root, check=True)
    with use_db(str(session)) as db:
        total = db.num_work_items
        skipped = skip_out_of_scope(db, target, root)
    print(f"{name}: {total - skipped} mutants to run ({skipped} skipped)", flush=True)
    subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=root, check=True)
    return summarize(name, target, session, time.monotonic() - started)


def summarize(name: str, target: Target, session: Path, seconds: float) -> dict:
    killed = incompetent = 0
    survivors = []
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome is WorkerOutcome.SKIPPED:
                continue
            if result.test_outcome is TestOutcome.SURVIVED:
                mutation = item.mutations[0]
                changed = [
                    line
                    for line in (result.diff or "").splitlines()
                    if line[:1] in "+-" and line[:3] not in ("+++", "---")
                ]
                survivors.append(
                    {
                        "line": mutation.start_pos[0],
                        "operator": mutation.operator_name.removeprefix("core/"),
                        "diff": changed,
                    }
                )
            elif result.test_outcome is TestOutcome.INCOMPETENT:
                incompetent += 1
            else:
                killed += 1
    run = killed + incompetent + len(survivors)
    return {
        "target": name,
        "module": target.module,
        "scope": list(target.scope or ["(whole module)"]),
        "mutants": run,
        "killed": killed + incompetent,
        "incompetent": incompetent,
        "survived": len(survivors),
        "score": round(100 * (killed + incompetent) / run, 1) if run else None,
        "seconds": round(seconds),
        "survivors": sorted(survivors, key=lambda s: s["line"]),
    }


def report(results: list[dict]) -> str:
    lines = [
        "| target | scope | killed / mutants | score | time |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['target']} | {', '.join(r['scope'])} | {r['killed']} / {r['mutants']} "
            f"| {r['score']}% | {r['seconds']} s |"
        )
    for r in results:
        if r["survivors"]:
            lines += ["", f"Surviving in {r['module']}:"]
            for s in r["survivors"]:
                lines.append(f"- line {s['line']} {s['operator']}: {' / '.join(s['diff'])}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help=f"some of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--root", type=Path, required=True, help="the repository copy to mutate")
    parser.add_argument("--out", type=Path, required=True, help="where sessions and reports go")
    args = parser.parse_args()
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    results = []
    for name in names:
        results.append(run_target(name, TARGETS[name], args.root, args.out))
        (args.out / f"{name}.json").write_text(json.dumps(results[-1], indent=1))
    text = report(results)
    (args.out / "report.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
