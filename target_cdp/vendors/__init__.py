"""Destinations: one module per vendor, each holding a `base.Destination` subclass.

`load_destinations` finds them all, keyed by their `name` (the settings key and a route's
`destination`):

- every module of this package that names its class in a module-level `DESTINATION`: a new
  vendor is one new module here, and nothing else;
- every class an installed distribution registers under the entry-point group
  `target_cdp.destinations` (`acme = "acme_cdp.destination:Acme"`): a destination shipped in
  another package.

A module that cannot be imported is an error naming it, never a destination quietly missing.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points

from target_cdp.vendors.base import Destination

ENTRY_POINT_GROUP = "target_cdp.destinations"


class DestinationLoadError(Exception):
    """A destination module or entry point cannot be loaded; the message names it."""


def load_destinations() -> dict[str, type[Destination]]:
    """Every destination: this package's modules (in name order), then entry points."""
    found: dict[str, type[Destination]] = {}
    for module in pkgutil.iter_modules(__path__, f"{__name__}."):
        try:
            loaded = importlib.import_module(module.name)
        except Exception as exc:
            raise DestinationLoadError(f"{module.name} cannot be imported: {_reason(exc)}") from exc
        cls = getattr(loaded, "DESTINATION", None)
        if cls is not None:
            _add(found, cls, module.name)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name} = {entry.value} ({ENTRY_POINT_GROUP})"
        try:
            cls = entry.load()
        except Exception as exc:
            raise DestinationLoadError(f"{where} cannot be loaded: {_reason(exc)}") from exc
        _add(found, cls, where)
    return found


def _add(found: dict[str, type[Destination]], cls: object, where: str) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Destination)):
        raise DestinationLoadError(f"{where}: {cls!r} is not a Destination class")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise DestinationLoadError(f"{where}: {cls.__name__} has no `name`")
    if name in found and found[name] is not cls:
        raise DestinationLoadError(f"{where}: destination '{name}' is defined twice")
    found[name] = cls


def _reason(exc: BaseException) -> str:
    """`Type: first line` of an exception."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
