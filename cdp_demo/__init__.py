"""The demo (`./scripts/demo`): tap-primedata | target-cdp against a local cdp-sandbox.

`__main__` drives it, `configs` holds its tap and target settings, `pipeline` runs the two
executables as a pipe (also for the end-to-end tests), `report` summarizes what arrived.
"""
