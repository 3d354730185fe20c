"""What `--about` adds to the SDK's output: each destination's route types and their options.

A route's options are declared by its destination (`Destination.route_options`); this module
only renders them: a `route_types` object in `--about --format=json`, a table under
`ROUTES_HEADING` in `--format=markdown` (which `scripts/sync_docs.py` keeps in the README's
mapping section), and a list in the plain text output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from target_cdp.routes import COMMON_KEYS, Route
from target_cdp.vendors.base import Destination

ROUTES_HEADING = "## Route types and options"
_ORDER = list(Route.__dataclass_fields__)
_COMMON = ", ".join(f"`{k}`" for k in sorted(COMMON_KEYS, key=_ORDER.index))


def route_types(destinations: Mapping[str, type[Destination]]) -> dict[str, Any]:
    """destination -> route type -> the JSON schema of its options."""
    return {
        name: {kind: _schema(options.to_dict()) for kind, options in cls.route_options.items()}
        for name, cls in destinations.items()
    }


def _schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "$schema"}


def _rows(destinations: Mapping[str, type[Destination]]) -> list[tuple[str, str, str, str, str]]:
    """(destination, type, option, its JSON type, description) for every option."""
    rows = []
    for name, kinds in route_types(destinations).items():
        for kind, schema in kinds.items():
            props: dict[str, Any] = schema.get("properties") or {}
            if not props:
                rows.append((name, kind, "", "", "no options"))
            for option, prop in props.items():
                json_type = prop.get("type", "")
                if isinstance(json_type, list):
                    json_type = "/".join(t for t in json_type if t != "null")
                rows.append((name, kind, option, str(json_type), prop.get("description", "")))
    return rows


def markdown(destinations: Mapping[str, type[Destination]]) -> str:
    """The route types and their options as a Markdown section."""
    lines = [
        ROUTES_HEADING,
        "",
        f"Every route takes {_COMMON}; each destination's route types take these options too:",
        "",
        "| Destination | Type | Option | JSON type | Description |",
        "|:------------|:-----|:-------|:----------|:------------|",
    ]
    for name, kind, option, json_type, description in _rows(destinations):
        shown = f"`{option}`" if option else "—"
        lines.append(f"| {name} | {kind} | {shown} | {json_type} | {description} |")
    return "\n".join(lines) + "\n"


def text(destinations: Mapping[str, type[Destination]]) -> str:
    """The route types and their options as plain text, in the SDK's text layout."""
    lines = [f"Route types (every route takes {_COMMON.replace('`', '')}):"]
    for name, kinds in route_types(destinations).items():
        for kind, schema in kinds.items():
            options = ", ".join(schema.get("properties") or {}) or "no options"
            lines.append(f"  - {name} {kind}: {options}")
    return "\n".join(lines) + "\n"


def with_routes(
    about: str, output_format: str | None, destinations: Mapping[str, type[Destination]]
) -> str:
    """The SDK's `--about` output with the route types and options added."""
    if output_format == "json":
        data = json.loads(about)
        data["route_types"] = route_types(destinations)
        return json.dumps(data, indent=2, default=str)
    if output_format == "markdown":
        return f"{about.rstrip()}\n\n{markdown(destinations)}"
    return f"{about.rstrip()}\n{text(destinations)}"
