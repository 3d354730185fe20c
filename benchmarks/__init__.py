"""Benchmarks of tap-primedata and target-cdp against cdp-sandbox, with plain-Python baselines."""
