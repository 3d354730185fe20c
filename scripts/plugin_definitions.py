"""Meltano Hub plugin definitions built from a plugin's `--about --format=json`.

A definition is what `meltano add --from-ref FILE` reads and what Meltano Hub publishes: name,
namespace, variant, pip_url, executable, capabilities and every setting with its kind, label,
description and `sensitive` flag. Only the facts `--about` cannot tell live here (PLUGINS).
Pure functions, no I/O; `scripts/sync_docs.py` writes and checks the files.
"""

from __future__ import annotations

import json
from typing import Any

VARIANT = "cdp-connectors"
PIP_URL = "cdp-connectors"  # the package index name; README: how to pin a wheel or a git tag
PLUGINS: dict[str, dict[str, str]] = {
    "tap-primedata": {"type": "extractors", "namespace": "tap_primedata", "label": "PrimeData"},
    "target-cdp": {
        "type": "loaders",
        "namespace": "target_cdp",
        "label": "CDP (Dmartech, EngageLab, NXCloud)",
    },
}
WORDS = {  # how a word of a setting name is spelled in a label
    "api": "API",
    "url": "URL",
    "uri": "URI",
    "id": "ID",
    "ids": "IDs",
    "jsonl": "JSONL",
    "dmartech": "Dmartech",
    "engagelab": "EngageLab",
    "nxcloud": "NXCloud",
}


def label(name: str) -> str:
    """`dmartech.api_url` -> `Dmartech API URL`."""
    words = name.replace(".", "_").split("_")
    return " ".join(WORDS.get(w, w.capitalize()) for w in words if w)


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    found = set(kind if isinstance(kind, list) else [kind])
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= _types(option)
    return found - {"null"}


def _enum(schema: dict[str, Any]) -> list[Any] | None:
    if "enum" in schema:
        return schema["enum"]
    return next((o["enum"] for o in schema.get("anyOf", []) if "enum" in o), None)


def _kind(schema: dict[str, Any]) -> str:
    types = _types(schema)
    if _enum(schema) is not None:
        return "options"
    if schema.get("format") == "date-time":
        return "date_iso8601"
    for json_type, kind in (
        ("boolean", "boolean"),
        ("integer", "integer"),
        ("number", "decimal"),
        ("array", "array"),
        ("object", "object"),
    ):
        if json_type in types:
            return kind
    return "string"


def setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One Hub setting from a JSON schema property (a dotted name for a nested one)."""
    title = schema.get("title") or label(name)
    description = " ".join(str(schema.get("description") or "").split())
    if not description:  # the plugin says nothing more than its name: say that and the default
        default = schema.get("default")
        description = title if default is None else f"{title} (default {json.dumps(default)})"
    out: dict[str, Any] = {  # in the order Meltano writes them back to meltano.yml
        "name": name,
        "kind": _kind(schema),
        "label": title,
        "description": description,
    }
    if out["kind"] == "options":
        out["options"] = [
            {"label": str(v), "value": v} for v in (_enum(schema) or []) if v is not None
        ]
    out["sensitive"] = bool(schema.get("secret") or schema.get("writeOnly"))
    return out


def settings(about: dict[str, Any]) -> list[dict[str, Any]]:
    """Every setting of `--about`, the fields of each destination's object (the keys of its
    `route_types`) as dotted settings (one the plugin does not describe borrows the
    description of the top-level setting it overrides)."""
    top = about["settings"]["properties"]
    nested = about.get("route_types") or {}
    found: list[dict[str, Any]] = []
    for name, schema in top.items():
        if name not in nested or not schema.get("properties"):
            found.append(setting(name, schema))
            continue
        for inner, inner_schema in schema["properties"].items():
            general = (top.get(inner) or {}).get("description")
            if general and not inner_schema.get("description"):
                inner_schema = {
                    **inner_schema,
                    "description": f"{label(name)} only: {general} (overrides `{inner}`)",
                }
            found.append(setting(f"{name}.{inner}", inner_schema))
    return found


def definition(about: dict[str, Any]) -> dict[str, Any]:
    """The Hub definition of the plugin whose `--about --format=json` this is."""
    name = about["name"]
    facts = PLUGINS[name]
    out: dict[str, Any] = {  # in the order Meltano writes them back to meltano.yml
        "name": name,
        "namespace": facts["namespace"],
        "label": facts["label"],
        "variant": VARIANT,
        "pip_url": PIP_URL,
        "executable": name,
        "description": about.get("description") or facts["label"],
        "capabilities": sorted(about.get("capabilities", [])),
    }
    required = about["settings"].get("required") or []
    if required:
        out["settings_group_validation"] = [list(required)]
    out["settings"] = settings(about)
    return out


def differences(have: dict[str, Any], want: dict[str, Any], keys: list[str]) -> list[str]:
    """What differs between a stored definition and the generated one, one line each,
    naming the setting: unknown settings, missing settings, and fields that differ."""
    lines: list[str] = []
    for key in keys:
        if key != "settings" and have.get(key) != want.get(key):
            lines.append(f"`{key}` is {have.get(key)!r}, the plugin says {want.get(key)!r}")
    stored = {s.get("name"): s for s in have.get("settings") or [] if isinstance(s, dict)}
    generated = {s["name"]: s for s in want.get("settings") or []}
    plugin = want["name"]
    for name in stored.keys() - generated.keys():
        lines.append(f"setting '{name}' is not a setting of {plugin} (not in its --about)")
    for name in generated.keys() - stored.keys():
        lines.append(f"setting '{name}' of {plugin} is missing")
    for name in stored.keys() & generated.keys():
        fields = sorted(
            f for f in stored[name].keys() | generated[name].keys()
            if stored[name].get(f) != generated[name].get(f)
        )  # fmt: skip
        if fields:
            lines.append(f"setting '{name}' differs from {plugin} --about: {', '.join(fields)}")
    order_have = [n for n in stored if n in generated]
    order_want = [n for n in generated if n in stored]
    if not lines and order_have != order_want:
        lines.append(f"settings of {plugin} are not in the plugin's order")
    return sorted(lines)
