"""Property tests of the ledger's diffing: whatever the sequence of values, the destination
ends equal to the source, and rerunning the same input sends nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import USERS_SCHEMA, config, deliver, route_summary, upserts, user

from target_cdp.ledger.digest import fingerprint, fingerprints, key_text

values = st.dictionaries(
    st.text(min_size=1, max_size=5),
    st.one_of(st.integers(), st.text(max_size=5), st.booleans(), st.none()),
    max_size=5,
)


@given(values)
def test_the_fingerprint_ignores_property_order(value):
    assert fingerprint(value) == fingerprint(dict(reversed(list(value.items()))))


class _Opaque:
    def __init__(self, n: int) -> None:
        self.n = n


@given(st.lists(values | st.integers().map(_Opaque), max_size=6))
def test_fingerprints_of_many_are_each_ones_fingerprint(items):
    """Also when one of them msgspec cannot encode (the JSON fallback)."""
    assert fingerprints(items) == [fingerprint(item) for item in items]


@given(values, values)
def test_different_payloads_have_different_fingerprints(a, b):
    assert (fingerprint(a) == fingerprint(b)) == (a == b and all(
        type(a[k]) is type(b[k]) for k in a))  # fmt: skip


@given(st.tuples(st.text(max_size=4), st.integers()), st.tuples(st.text(max_size=4), st.integers()))
def test_compound_keys_keep_apart(a, b):
    assert (key_text(a) == key_text(b)) == (a == b)


runs = st.lists(  # runs of (user number, score): keys repeat, values change and change back
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2)), min_size=1, max_size=12),
    min_size=1,
    max_size=3,
)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(runs)
def test_the_destination_ends_equal_to_the_source_and_reruns_send_nothing(
    sandbox, tmp_path_factory, caplog, sequence
):
    tmp_path = tmp_path_factory.mktemp("prop")
    sandbox.reset()
    cfg = config(sandbox, tmp_path, f"sqlite:///{tmp_path / 'ledger.db'}",
                 dmartech={"batch_size": 2})  # fmt: skip
    source: dict[str, int] = {}
    for run in sequence:
        messages = [USERS_SCHEMA, *[user(i, score=score) for i, score in run]]
        result = deliver(cfg, messages, tmp_path, caplog)
        assert result.exit_code == 0, result.logs
        for i, score in run:
            source[f"u{i}"] = score
        final = {}
        for sent in upserts(sandbox):
            final[sent["user_id"]] = sent["score"]
        assert final == source
    again = deliver(cfg, [USERS_SCHEMA, *[user(int(k[1:]), score=v) for k, v in source.items()]],
                    tmp_path, caplog)  # fmt: skip
    assert route_summary(again)["delivered"] == 0
