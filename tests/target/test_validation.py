"""The fast record check (msgspec) never accepts what fastjsonschema refuses: on generated
schemas of the subset it covers and records decoded from JSON, the check the sink calls gives
fastjsonschema's verdict and message; schemas outside the subset go to fastjsonschema alone."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import msgspec
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord

from target_cdp.validation import FastValidator, fast_type

NAMES = ["id", "email", "score", "x y", "_private", "1st", "é"]
TYPES = ["string", "integer", "number", "boolean", "null", "object", "array"]


def schemas(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """Property schemas of the covered subset, nested objects and arrays included."""
    types = st.one_of(st.sampled_from(TYPES), st.lists(st.sampled_from(TYPES), min_size=1,
                                                       max_size=3, unique=True))  # fmt: skip
    plain = st.fixed_dictionaries(
        {"type": types}, optional={"format": st.just("date-time"), "description": st.just("d")}
    )
    if depth == 0:
        return plain
    nested = st.builds(
        lambda props, required, null: {
            "type": ["object", "null"] if null else "object",
            "properties": props,
            "required": [n for n in required if n in props or n == "id"],
            "additionalProperties": True,
        },
        st.dictionaries(st.sampled_from(NAMES), schemas(depth - 1), max_size=4),
        st.lists(st.sampled_from(NAMES), max_size=2, unique=True),
        st.booleans(),
    )
    arrays = st.builds(lambda items: {"type": "array", "items": items}, schemas(depth - 1))
    return st.one_of(plain, nested, arrays)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
              st.floats(allow_nan=False), st.just(2.0), st.text(max_size=4)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(NAMES), inner, max_size=3)),
    max_leaves=8,
)  # fmt: skip
records = st.dictionaries(st.sampled_from(NAMES), json_values, max_size=6)


def values_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values mostly valid for a property schema of the subset, now and then any JSON value:
    a record the fast check accepts must be common for the test to mean something."""
    names = schema.get("type", TYPES)
    valid = st.one_of(*(_of_type(name, schema) for name in ([names] if isinstance(names, str)
                                                              else names)))  # fmt: skip
    return st.one_of(valid, valid, valid, valid, valid, json_values)


def _of_type(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if name == "object":
        return objects_for(schema)
    if name == "array":
        return st.lists(values_for(schema["items"]) if "items" in schema else json_values,
                        max_size=3)  # fmt: skip
    return {
        "string": st.text(max_size=4),
        "integer": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.just(2.0)),
        "number": st.one_of(st.floats(allow_nan=False), st.integers()),
        "boolean": st.booleans(),
        "null": st.none(),
    }[name]


def objects_for(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with the required properties and some others, mostly of their types."""
    props = schema.get("properties", {})
    required = schema.get("required", [])
    return st.fixed_dictionaries(
        {name: values_for(props.get(name, {})) for name in required},
        optional={name: values_for(sub) for name, sub in props.items() if name not in required}
        | {"extra": json_values},
    )


def verdict(check: Any, record: Any) -> str | None:
    try:
        check(record)
    except fastjsonschema.JsonSchemaValueException as exc:
        return exc.message
    return None


@settings(max_examples=400, deadline=None)
@given(
    props=st.dictionaries(st.sampled_from(NAMES), schemas(), max_size=5),
    required=st.lists(st.sampled_from(NAMES), max_size=3, unique=True),
    draft=st.sampled_from([None, "http://json-schema.org/draft-04/schema#"]),
    data=st.data(),
)
def test_the_fast_check_gives_fastjsonschemas_verdict(
    props: dict[str, Any], required: list[str], draft: str | None, data: st.DataObject
) -> None:
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    if draft:
        schema["$schema"] = draft
    record = data.draw(st.one_of(objects_for(schema), records))
    validator = FastValidator(schema)
    fast = fast_type(schema)
    assert fast is not None  # every generated schema is in the subset
    try:
        msgspec.convert(record, fast)
        fast_accepts = True
    except msgspec.ValidationError:
        fast_accepts = False
    exact = verdict(validator.exact, record)
    event(f"fast check accepts: {fast_accepts}")
    if fast_accepts:
        assert exact is None, f"fast check accepted what fastjsonschema refuses: {exact}"
    assert verdict(validator.check, record) == exact


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}},
        {"type": "object", "properties": {"a": {"enum": ["x"]}}},
        {"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}},
         "definitions": {"x": {"type": "string"}}},
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
        {"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}},
        {"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}},
        {"type": "object", "properties": {"a": {"properties": {"b": {"type": "string"}}}}},
        {"type": "object"},
        {"properties": {"a": {"type": "string"}}},
    ],
)  # fmt: skip
def test_schemas_outside_the_subset_are_checked_by_fastjsonschema_alone(
    schema: dict[str, Any],
) -> None:
    assert fast_type(schema) is None
    validator = FastValidator(schema)
    assert validator.check is validator.exact


def test_nested_objects_and_an_object_or_array_are_covered() -> None:
    schema = {"type": "object", "properties": {
        "a": {"type": "object", "properties": {"b": {}}},
        "c": {"type": ["object", "array", "null"], "properties": {"d": {"type": "string"}}},
    }}  # fmt: skip
    assert fast_type(schema) is not None
    validator = FastValidator(schema)
    assert verdict(validator.check, {"a": {"b": [1]}, "c": [1, "x"]}) is None
    assert verdict(validator.check, {"c": {"d": 1}}) == "data.c.d must be string"


def test_what_fastjsonschema_takes_and_msgspec_refuses_is_still_valid() -> None:
    """`integer` 2.0 (valid from draft 6 on), an integer past 64 bits, a null optional."""
    props = {"n": {"type": "integer"}, "o": {"type": "string"}}
    validator = FastValidator({"type": "object", "properties": props, "required": ["n"]})
    for record in ({"n": 2.0}, {"n": 2**80}, {"n": 1, "o": "x", "other": [1]}):
        assert verdict(validator.check, record) is None
    assert verdict(validator.check, {"n": 1, "o": None}) == "data.o must be string"
    assert verdict(validator.check, {"o": "x"}) == "data must contain ['n'] properties"


def test_a_stream_maps_record_gets_the_exact_check() -> None:
    """msgspec would take a set for an array; JSON never makes one, a stream map could:
    the sink checks mapped records with `exact` (`CDPSink.accept(decoded=False)`)."""
    validator = FastValidator({"type": "object", "properties": {"a": {"type": "array"}}})
    assert verdict(validator.check, {"a": {1}}) is None  # not for such records
    assert verdict(validator.exact, {"a": {1}}) == "data.a must be array"


@pytest.mark.parametrize(
    ("types", "values"),
    [
        (["string", "null"], ["x", None]),
        (["null", "integer", "string"], [None, 3, "x"]),
        (["number", "boolean", "array", "object"], [1.5, 2, True, [1], {"k": 1}]),
    ],
)
def test_the_fast_check_takes_every_type_of_a_type_list(
    types: list[str], values: list[Any]
) -> None:
    """Each listed type in the msgspec type itself (a value of a type left out would still be
    valid, through fastjsonschema: slower, never wrong)."""
    fast = fast_type({"type": "object", "properties": {"a": {"type": types}}})
    for value in values:
        msgspec.convert({"a": value}, fast)


def test_an_unknown_type_name_or_a_malformed_keyword_is_not_covered() -> None:
    for name in ("timestamp", "any", "object2", [], [5], ["string", 5]):
        assert fast_type({"type": "object", "properties": {"a": {"type": name}}}) is None
    for nested in ({"properties": [], "required": []}, {"properties": {}, "required": "a"}):
        prop = {"type": "object", **nested}
        assert fast_type({"type": "object", "properties": {"a": prop}}) is None


def test_a_schema_fastjsonschema_cannot_compile_is_one_clear_error() -> None:
    bad = [({"type": "nonsense"}, "Unknown type"), ({"pattern": "("}, "missing \\)"),
           ({"items": 5}, "a keyword has a value of the wrong type")]  # fmt: skip
    for prop, words in bad:
        with pytest.raises(InvalidJSONSchema, match=rf"^invalid JSON schema: .*{words}"):
            FastValidator({"type": "object", "properties": {"a": prop}})


def test_formats_are_not_checked() -> None:
    """As before the fast check: fastjsonschema compiled without formats."""
    validator = FastValidator(
        {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
    )
    assert verdict(validator.check, {"at": "not a date"}) is None
    assert verdict(validator.exact, {"at": "not a date"}) is None


def test_defaults_are_never_filled_in() -> None:
    """A record is checked, never changed: a property's `default` is not added to it."""
    props = {"n": {"type": "integer"}, "tier": {"type": "string", "default": "gold"}}
    validator = FastValidator({"type": "object", "properties": props})
    for check in (validator.check, validator.exact, validator.validate):
        record = {"n": 2.0}  # refused by the fast check: fastjsonschema decides
        check(record)
        assert record == {"n": 2.0}


def test_the_sdk_validator_hook_raises_invalid_record_with_the_message() -> None:
    validator = FastValidator({"type": "object", "properties": {"n": {"type": "integer"}}})
    with pytest.raises(InvalidRecord, match=r"data\.n must be integer"):
        validator.validate({"n": "x"})
