"""What `scripts/mutation.py` mutates: each target's module, scope, tests and sample, and the
surviving mutants known to be equivalent, each with its reason.

Operators left out, as they make no mutant worth a test here:
- `X | Y` rewritten (`BitOr_*`): here `|` only ever builds a type union;
- replacements by `**`, `<<`, `>>`, `&`, `^`, `|`: nothing here does bit arithmetic;
- `==`/`is`, `!=`/`is not` swapped, and `<`-like against `is`: CPython's interning decides;
- cosmic-ray's variable replacer/inserter: random names, mostly NameErrors.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    for n in (
        "diff",
        "keys",
        "deletes",
        "failures",
        "engagelab",
        "errors",
        "properties",
        "in_flight",
    )
)
SQLITE = ("-k", "not postgresql")
SAMPLE_SEED = 16  # the sample of a big target is the same from run to run


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
    "ledger_writer": Target("target_cdp/ledger/writer.py", LEDGER, pytest_args=SQLITE),
    "ledger_first_run": Target(  # a route's first run: records decided one by one
        "target_cdp/ledger/memory.py",
        LEDGER,
        scope=("RouteMemory.decide", "RouteMemory.forget_settled", "RouteMemory.count_decided"),
        pytest_args=SQLITE,
    ),
    "validation": Target(  # the fast schema check: never accepts what fastjsonschema refuses
        "target_cdp/validation.py",
        (f"{T}test_validation.py", f"{T}test_core_input.py", f"{T}test_core_deadletter.py"),
    ),
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
    ("ledger_writer", "while len(jobs) < 32:  # whatever else is waiting goes in the same round",
     "while len(jobs) == 32:  # whatever else is waiting goes in the same round",
     "outcomes merged into one transaction or written one by one: the same rows"),
    ("ledger_writer", 'super().__init__(name="ledger-writer", daemon=True)',
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
    *(("ledger_first_run", "if counted[3] >= WINDOW:", after,
       "only when a first run's counts join the route's figures and committed keys leave the "
       "in-flight map (every record, or every 1,000): the same counts and decisions by the end")
      for after in ("if not counted[3] >= WINDOW:", "if counted[3] != WINDOW:",
                    "if counted[3] <= WINDOW:", "if counted[3] > WINDOW:",
                    "if counted[3] == WINDOW:", "if counted[3] < WINDOW:")),
    ("validation", "@override", "",
     "typing_extensions' `override` only marks the method for type checkers (mypy, in CI)"),
    ("validation",
     'return msgspec.defstruct("Record", fields, rename=rename, kw_only=True, gc=False)',
     'return msgspec.defstruct("Record", fields, rename=rename, kw_only=True, gc=True)',
     "the checked record's Struct is dropped at once: tracked by the collector or not, the "
     "same verdicts (gc=False only spares the tracking)"),
    ("ledger_first_run", "if counted[3] >= WINDOW:", "if counted[ 2] >= WINDOW:",
     "counts added and committed keys dropped only at flushes: the in-flight map holds more "
     "keys meanwhile (memory), every decision the same"),
    ("ledger_first_run", "counted[3] += 1", "counted[3] += 2",
     "counts added and committed keys dropped every 500 records instead of 1,000"),
    ("ledger_first_run", "self._counted = [0, 0, 0, 0]", "self._counted = [0, 0, 0, 1]",
     "counts added and committed keys dropped one record sooner"),
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
