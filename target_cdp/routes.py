"""Routes: which stream goes to which destination as what, and how its fields map."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

_MISSING = object()
COMMON_KEYS = frozenset({"stream", "destination", "type", "fields", "diff", "delete_missing"})
"""Route keys every destination takes; any other key is an option of the route's destination,
declared and checked by it (`Destination.route_options`)."""


def dotted_get(record: Mapping[str, Any], path: str, default: Any = None) -> Any:
    """`record["a"]["b"]` for `"a.b"`; a property whose own name has a dot wins."""
    value = _lookup(record, path, _split(path))
    return default if value is _MISSING else value


def _step(value: Any, part: str) -> Any:
    """One path step into an object or a list; `_MISSING` when there is nothing."""
    if isinstance(value, Mapping):
        return value.get(part, _MISSING)
    if isinstance(value, list) and part.isdigit() and int(part) < len(value):
        return value[int(part)]
    return _MISSING


def _split(path: str) -> tuple[str, ...] | None:
    """A dotted path's parts, split once; None for a plain property name."""
    return tuple(path.split(".")) if "." in path else None


def _lookup(record: Mapping[str, Any], path: str, parts: tuple[str, ...] | None) -> Any:
    """`dotted_get` on a path split by `_split`; `_MISSING` when there is nothing."""
    if parts is None or path in record:
        return record.get(path, _MISSING)
    value: Any = record
    for part in parts:
        value = value.get(part, _MISSING) if type(value) is dict else _step(value, part)
        if value is _MISSING:
            break
    return value


@dataclass(frozen=True)
class Route:
    """One entry of the `mappings` setting: what every route has, and its destination's options."""

    stream: str
    destination: str
    type: str
    fields: Mapping[str, str] | None = None
    diff: bool | None = None  # None: the destination's default for the route type
    delete_missing: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)  # read by the destination

    @property
    def label(self) -> str:
        """`stream -> destination:type`, as shown in logs and the summary."""
        return f"{self.stream} -> {self.destination}:{self.type}"

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> Route:
        """A route from its `mappings` entry: keys beyond `COMMON_KEYS` become `options`."""
        common = {k: v for k, v in entry.items() if k in COMMON_KEYS}
        return cls(**common, options={k: v for k, v in entry.items() if k not in COMMON_KEYS})

    @cached_property
    def _paths(self) -> tuple[tuple[str, str, tuple[str, ...] | None], ...]:
        """(destination field, source path, the path's parts when dotted), split once."""
        fields = self.fields or {}
        return tuple((target, source, _split(source)) for target, source in fields.items())

    def project(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Destination fields from `fields` (dotted paths allowed), or the record as it is."""
        if not self.fields:
            return dict(record)
        values = {}
        for target, source, parts in self._paths:  # inline: this runs for every field
            if source in record:
                values[target] = record[source]
                continue
            if parts is None:
                continue
            if len(parts) == 2:  # `object.property`, the usual dotted path
                head = record.get(parts[0])
                if type(head) is dict:
                    if parts[1] in head:
                        values[target] = head[parts[1]]
                    continue
            value = _lookup(record, source, parts)
            if value is not _MISSING:
                values[target] = value
        return values
