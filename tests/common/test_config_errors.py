"""Configuration errors: one line per setting, JSON-string objects parsed, secrets never shown."""

from __future__ import annotations

import pytest
from singer_sdk.exceptions import ConfigValidationError

from cdp_common.config_errors import coerce_json_strings, validate_config
from cdp_common.redact import Redactor

SCHEMA = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "secret": True, "writeOnly": True},
        "vendor": {
            "type": "object",
            "properties": {
                "secret": {"type": "string", "secret": True},
                "size": {"type": "integer", "minimum": 1, "default": 10},
            },
            "required": ["secret"],
        },
        "ids": {"type": "array", "items": {"type": "string"}},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 30},
    },
}


def test_object_and_array_settings_given_as_json_strings_are_parsed():
    config = {"vendor": '{"secret": "abcd-1234", "size": "{}"}', "ids": '["a", "b"]'}
    assert coerce_json_strings(config, SCHEMA) == []
    assert config["vendor"]["secret"] == "abcd-1234" and config["ids"] == ["a", "b"]


@pytest.mark.parametrize(
    "value,needle", [("{not json", "not JSON"), ('"a string"', "expected a JSON object")]
)
def test_a_string_that_is_no_object_names_the_setting(value, needle):
    errors = coerce_json_strings({"vendor": value}, SCHEMA)
    assert len(errors) == 1 and errors[0].startswith("`vendor`:") and needle in errors[0]


def test_errors_never_show_a_secret_and_defaults_are_filled():
    redactor = Redactor()
    config = {"api_key": {"v": "key-Qx81"}, "vendor": {"secret": 1234567, "size": 0}}
    with pytest.raises(ConfigValidationError) as caught:
        validate_config(config, SCHEMA, redactor=redactor)
    errors = caught.value.errors
    assert [e.split(":")[0] for e in errors] == ["`api_key`", "`vendor.secret`", "`vendor.size`"]
    assert not any("key-Qx81" in e or "1234567" in e for e in errors)
    assert "key-Qx81" in redactor.secrets  # learnt before anything could log it
    assert config["timeout"] == 30


def test_a_zero_that_the_schema_refuses_names_the_setting():
    errors = validate_config({"timeout": 0}, SCHEMA, raise_errors=False, redactor=Redactor())
    assert errors == ["`timeout`: 0 is less than or equal to the minimum of 0"]
