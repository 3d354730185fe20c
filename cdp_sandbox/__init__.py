"""A local emulator of the PrimeData, Dmartech, EngageLab and NXCloud APIs."""
