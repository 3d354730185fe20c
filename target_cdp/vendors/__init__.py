"""Destinations: one module per vendor behind `base.Destination`.

`DESTINATIONS` maps a route's `destination` (and the settings key) to its class. It is built
on first use, so that `target_cdp.convert`, which the vendor modules import, can itself
import `target_cdp.vendors.base` without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from target_cdp.vendors.base import Destination

    DESTINATIONS: dict[str, type[Destination]]


def __getattr__(name: str) -> Any:
    if name != "DESTINATIONS":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from target_cdp.vendors.dmartech import Dmartech
    from target_cdp.vendors.engagelab import EngageLab
    from target_cdp.vendors.nxcloud import NXCloud

    registry: dict[str, type[Destination]] = {
        cls.name: cls for cls in (Dmartech, EngageLab, NXCloud)
    }
    globals()["DESTINATIONS"] = registry
    return registry
