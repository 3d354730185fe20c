"""`cdp-sandbox serve`: run the emulator of PrimeData, Dmartech, EngageLab and NXCloud."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from cdp_sandbox.config import Credentials, Faults, SandboxConfig, Workspace
from cdp_sandbox.server import SandboxServer, build_app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdp-sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve all four APIs on one port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--profiles", type=int, default=Workspace.profiles)
    serve.add_argument("--events-per-profile", type=int, default=Workspace.events_per_profile)
    serve.add_argument("--seed", type=int, default=Workspace.seed)
    serve.add_argument("--latency-ms", type=float, default=0.0, help="delay before each answer")
    serve.add_argument("--error-rate", type=float, default=0.0, help="share of 500/502/503")
    serve.add_argument("--drop-rate", type=float, default=0.0, help="share of dropped connections")
    serve.add_argument("--rate-limit", type=float, default=0.0, help="calls/s before 429")
    serve.add_argument("--retry-after", type=int, default=1, help="Retry-After of a 429, seconds")
    serve.add_argument("--fault-seed", type=int, default=None)
    serve.add_argument(
        "--no-store-bodies",
        action="store_true",
        help="count what destinations receive without keeping it (benchmarks)",
    )
    for f in fields(Credentials):
        serve.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cdp-sandbox` executable."""
    args = _parser().parse_args(argv)
    config = SandboxConfig(
        credentials=Credentials(**{f.name: getattr(args, f.name) for f in fields(Credentials)}),
        workspace=Workspace(args.profiles, args.events_per_profile, args.seed),
        faults=Faults(
            args.latency_ms,
            args.error_rate,
            args.drop_rate,
            args.rate_limit,
            args.retry_after,
            args.fault_seed,
        ),
        store_bodies=not args.no_store_bodies,
    )
    server = SandboxServer(build_app(config), args.host, args.port)
    print(f"cdp-sandbox serving on {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
