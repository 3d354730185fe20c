"""Configuration problems as one line each, naming the setting and never echoing a secret.

`coerce_json_strings` accepts an object or array setting given as a JSON string (what
`meltano config set target-cdp dmartech '{...}'` may store), `config_errors` validates a
config against its JSON schema and words each error without the offending value when the
setting is secret.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, NoReturn

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import JSONSchemaValidator  # the SDK's validator, filling defaults

from cdp_common.redact import REDACTOR, Redactor, secret_paths, secret_values

_CONTAINERS = {"object": dict, "array": list}


def setting_name(path: Iterable[Any]) -> str:
    """`dmartech.secret`, `mappings[2].type`: how an error names a setting."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "config"


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    found = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    for option in schema.get("anyOf") or schema.get("oneOf") or []:
        if isinstance(option, Mapping):
            found |= _types(option)
    return found


def coerce_json_strings(
    config: MutableMapping[str, Any], schema: Mapping[str, Any], path: tuple[Any, ...] = ()
) -> list[str]:
    """Parse object/array settings given as JSON strings, in place; errors for the rest."""
    errors = []
    for name, prop in (schema.get("properties") or {}).items():
        if name not in config or not isinstance(prop, Mapping):
            continue
        value, here = config[name], (*path, name)
        wanted = {t for t in _types(prop) if t in _CONTAINERS}
        if isinstance(value, str) and wanted and "string" not in _types(prop):
            kind = " or ".join(f"a JSON {t}" for t in sorted(wanted))
            try:
                parsed = json.loads(value)
            except ValueError:
                not_json = "got a string that is not JSON"
                errors.append(f"`{setting_name(here)}`: expected {kind}, {not_json}")
                continue
            if not any(isinstance(parsed, _CONTAINERS[t]) for t in wanted):
                errors.append(f"`{setting_name(here)}`: expected {kind}")
                continue
            config[name] = value = parsed
        if isinstance(value, dict) and prop.get("properties"):
            errors += coerce_json_strings(value, prop, here)
    return errors


_VALUELESS = frozenset({"required", "additionalProperties", "dependentRequired"})


def _touches_secret(path: tuple[Any, ...], secrets: set[tuple[str, ...]]) -> bool:
    """Whether the value at `path` is a secret, or an object holding one."""
    names = tuple(p for p in path if not isinstance(p, int))
    return any(names[: len(s)] == s or s[: len(names)] == names for s in secrets)


def _describe(error: Any, secret: bool) -> str:
    """One line for one `jsonschema` error; the value is left out when it is or holds a secret."""
    name = f"`{setting_name(error.absolute_path)}`"
    if not secret or error.validator in _VALUELESS:  # these messages name keys, not values
        return f"{name}: {error.message}"
    keyword, expected = error.validator, error.validator_value
    if keyword == "type":
        kinds = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{name}: must be a {kinds} (the value is secret and not shown)"
    return f"{name}: fails `{keyword}` (the value is secret and not shown)"


def config_errors(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Every schema error of `config`, one line each, secrets never shown.

    As the SDK's own validation does, schema defaults are filled into `config`.
    """
    secrets = set(secret_paths(schema))
    found = JSONSchemaValidator(dict(schema)).iter_errors(config)
    errors = sorted(found, key=lambda e: [str(p) for p in e.absolute_path])
    return [_describe(e, _touches_secret(tuple(e.absolute_path), secrets)) for e in errors]


def validate_config(
    config: MutableMapping[str, Any],
    schema: Mapping[str, Any],
    *,
    raise_errors: bool = True,
    redactor: Redactor = REDACTOR,
) -> list[str]:
    """What a plugin's `_validate_config` does, with JSON-string objects parsed, the secrets
    registered for redaction before anything is logged, and errors that never show them."""
    errors = coerce_json_strings(config, schema)
    redactor.add(secret_values(schema, config))
    if not errors:  # a string where an object belongs would trip the defaults filler
        errors = config_errors(config, schema)
    if errors and raise_errors:
        raise ConfigValidationError("Config validation failed", errors=errors, schema=dict(schema))
    return errors


EXIT_CONFIG_ERROR = 2


def exit_on_config_error(logger: logging.Logger, exc: ConfigValidationError) -> NoReturn:
    """Log each configuration problem as one `Configuration error:` line and exit 2."""
    for error in exc.errors or [str(exc)]:
        logger.error("Configuration error: %s", error)
    sys.exit(EXIT_CONFIG_ERROR)
