"""`python -m target_cdp`."""

from __future__ import annotations

from target_cdp.target import TargetCDP

TargetCDP.cli()
