"""The demo driver: configure and run `tap-primedata | target-cdp` against a running sandbox,
then summarize what each destination received. `./scripts/demo` starts the sandbox and runs:

    python -m cdp_demo --url http://127.0.0.1:PORT --out output/demo
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from cdp_demo.configs import lookups, tap_config, target_config, workspace_profiles
from cdp_demo.pipeline import run_pipeline
from cdp_demo.report import received_summary, summary_lines
from cdp_sandbox.config import Credentials


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through Pipeline.wait, which kills tap and target


def main(argv: list[str] | None = None) -> int:
    """Run the demo pipeline against a running sandbox and print the summary."""
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(prog="python -m cdp_demo", description=__doc__)
    parser.add_argument("--url", required=True, help="the running sandbox")
    parser.add_argument("--out", default="output/demo", help="configs, logs and state go here")
    parser.add_argument("--profiles", type=int, default=200, help="profiles to read")
    args = parser.parse_args(argv)
    out = Path(args.out)
    creds = Credentials()
    profiles = workspace_profiles(args.url, args.profiles)
    print(
        f"cdp-sandbox at {args.url}: reading {len(profiles)} profiles and their events "
        "(half looked up by profile id, half by email)",
        flush=True,
    )
    tap_cfg = tap_config(args.url, creds, **lookups(profiles))
    summary_path = out / "summary.json"
    summary_path.unlink(missing_ok=True)
    for stale in out.glob("target-cdp-ledger.db*"):  # a new sandbox holds nothing yet
        stale.unlink()
    target_cfg = target_config(args.url, creds, out, summary_path=str(summary_path))
    run = run_pipeline(tap_cfg, target_cfg, out)
    print("\n".join(summary_lines(run, received_summary(args.url), summary_path)))
    print(f"\nconfigs, logs, STATE and dead letters: {out}/")
    if run.tap_code or run.target_code:
        print(f"demo: the pipeline failed; see {run.tap_log} and {run.target_log}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
