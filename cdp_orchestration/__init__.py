"""Running tap-primedata → target-cdp as parallel shards of a Meltano project.

`shards` is the orchestrator-free part (what a shard runs, its checks and its one-line
errors); `dagster_job` wraps it as a Dagster job (`pip install 'cdp-connectors[dagster]'`).
"""
