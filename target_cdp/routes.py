"""Routes: which stream goes to which destination as what, and how its fields map."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

_MISSING = object()


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
    """One entry of the `mappings` setting."""

    stream: str
    destination: str
    type: str
    fields: Mapping[str, str] | None = None
    event_name: str | None = None
    event_name_property: str | None = None
    event_id_property: str | None = None
    create_time_property: str | None = None
    time_property: str | None = None
    identity_property: str | None = None
    diff: bool | None = None  # None: the destination's default for the route type
    delete_missing: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)  # any other route keys

    @property
    def label(self) -> str:
        """`stream -> destination:type`, as shown in logs and the summary."""
        return f"{self.stream} -> {self.destination}:{self.type}"

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> Route:
        known = {f for f in cls.__dataclass_fields__ if f != "options"}
        return cls(
            **{k: v for k, v in entry.items() if k in known},
            options={k: v for k, v in entry.items() if k not in known},
        )

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
