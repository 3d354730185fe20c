"""`python -m tap_primedata`."""

from __future__ import annotations

from tap_primedata.tap import TapPrimeData

TapPrimeData.cli()
