"""tap-primedata: PrimeData profiles and events as Singer streams."""
