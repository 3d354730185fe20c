"""Record validation against the stream's JSON schema: fastjsonschema's compiled check, after a
faster one (msgspec, in C) for the schemas most taps send.

The fast check covers properties typed `string`, `integer`, `number`, `boolean`, `null`,
`object` (its own properties too) and `array` (its `items` too), with `required` and
annotations (`format` is not checked: fastjsonschema is compiled without formats). A record it
accepts is valid for fastjsonschema too (`tests/target/test_validation.py` checks this on
generated schemas and records); any other record goes to fastjsonschema, whose verdict and
message stand. A schema outside that subset is checked by fastjsonschema alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import fastjsonschema
import msgspec
from singer_sdk.exceptions import InvalidJSONSchema, InvalidRecord
from typing_extensions import override

from target_cdp.sdk_seam import BaseJSONSchemaValidator

Check = Callable[[Any], Any]
"""A compiled check: raises `fastjsonschema.JsonSchemaValueException` for an invalid record."""

_ANNOTATIONS = frozenset(
    [
        "title",
        "description",
        "format",
        "default",
        "examples",
        "$comment",
        "$schema",
        "readOnly",
        "writeOnly",
        "deprecated",
    ]
)
_KEYWORDS = frozenset(["type", "properties", "required", "items", "additionalProperties"])
_SCALARS: dict[str, Any] = {
    "string": str,
    "integer": int,  # not bool, not 1.0: a subset of both drafts' integers
    "number": float,  # int or float, not bool
    "boolean": bool,
    "null": None,
}


class _NotCovered(Exception):
    """A schema the fast check does not cover."""


class FastValidator(BaseJSONSchemaValidator):
    """The SDK's validator hook, answered by the checks below (no formats, no defaults)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        super().__init__(schema)
        try:
            self.exact: Check = fastjsonschema.compile(schema, use_default=False, use_formats=False)
            """fastjsonschema's check, for any record (e.g. a stream map's)."""
        except (fastjsonschema.JsonSchemaDefinitionException, re.error) as exc:
            msg = f"invalid JSON schema: {exc}"
            raise InvalidJSONSchema(msg) from None
        except (TypeError, AttributeError) as exc:  # e.g. `properties` not an object
            msg = f"invalid JSON schema: a keyword has a value of the wrong type ({exc})"
            raise InvalidJSONSchema(msg) from None
        self.check: Check = with_fast_check(schema, self.exact)
        """The same verdicts, faster, for records decoded from JSON (dicts, lists, strings,
        numbers, booleans, nulls: msgspec would also take a set for an array)."""
        self.all_valid: Callable[[list[Any]], bool] = all_valid(schema, self.check)
        """True when every record (decoded from JSON) is valid; False says only that some
        record may not be: `check` each for the verdict and its message."""

    @override
    def validate(self, record: dict[str, Any]) -> None:
        try:
            self.exact(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise InvalidRecord(exc.message, record) from None


def with_fast_check(schema: dict[str, Any], slow: Check) -> Check:
    """`slow` (fastjsonschema's check of `schema`) after the fast one when the schema is in
    its subset: the same verdicts on records decoded from JSON."""
    fast = fast_type(schema)
    if fast is None:
        return slow
    convert, invalid = msgspec.convert, msgspec.ValidationError

    def check(record: Any) -> Any:
        try:
            convert(record, fast)
        except invalid:
            return slow(record)  # the verdict and the message are fastjsonschema's
        return record

    return check


def all_valid(schema: dict[str, Any], check: Check) -> Callable[[list[Any]], bool]:
    """Records checked together: one msgspec call for a schema in the fast check's subset,
    else `check` on each."""
    fast = fast_type(schema)
    convert, invalid = msgspec.convert, msgspec.ValidationError
    if fast is None:

        def each(records: list[Any]) -> bool:
            try:
                for record in records:
                    check(record)
            except fastjsonschema.JsonSchemaValueException:
                return False
            return True

        return each
    many = list[fast]  # type: ignore[valid-type]

    def together(records: list[Any]) -> bool:
        try:
            convert(records, many)
        except invalid:
            return False
        return True

    return together


def fast_type(schema: dict[str, Any]) -> Any:
    """The msgspec type accepting only records valid for `schema`; None when the schema is
    outside the subset the fast check covers (or is not an object schema)."""
    if schema.get("type") != "object" or "properties" not in schema:
        return None
    try:
        typ = _type(schema)
        msgspec.json.Decoder(typ)  # msgspec refuses some unions here (two object types)
    except (_NotCovered, TypeError):
        return None
    return typ


def _type(schema: Any) -> Any:
    if not isinstance(schema, dict):
        raise _NotCovered
    if (
        set(schema) - _ANNOTATIONS - _KEYWORDS
        or schema.get("additionalProperties", True) is not True
    ):
        raise _NotCovered
    if "type" not in schema:
        if set(schema) - _ANNOTATIONS:
            raise _NotCovered
        return Any
    names = schema["type"]
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise _NotCovered
    # `properties`, `required` and `items` without `object` or `array` among the types check
    # nothing (they apply to objects and arrays only, which the types refuse): ignored
    types: list[Any] = []
    for name in dict.fromkeys(names):
        if name in _SCALARS:
            types.append(_SCALARS[name])
        elif name == "object":
            types.append(_object(schema))
        elif name == "array":
            items = _type(schema["items"]) if "items" in schema else Any
            types.append(list if items is Any else list.__class_getitem__(items))
        else:
            raise _NotCovered
    union = types[0]
    for typ in types[1:]:
        union = union | typ if union is not None else typ | None
    return union


def _object(schema: dict[str, Any]) -> Any:
    """`dict` for any object, else a Struct of its properties (other keys allowed)."""
    props = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(props, dict) or not isinstance(required, list):
        raise _NotCovered
    if not props and not required:
        return dict
    if not all(isinstance(name, str) for name in [*props, *required]):
        raise _NotCovered
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    rename = {}
    for i, name in enumerate(dict.fromkeys([*props, *required])):
        field = f"f{i}"  # any property name, even one that is not an identifier
        rename[field] = name
        typ = _type(props[name]) if name in props else Any
        fields.append((field, typ) if name in required else (field, typ, None))
    return msgspec.defstruct("Record", fields, rename=rename, kw_only=True, gc=False)
