"""Scenarios 5 and 12: tap | target; 5 against baseline tap | baseline target, 12 as users
run it (the demo's configuration) against the latency-bound ideal."""

from __future__ import annotations

from typing import Any

from benchmarks import configs
from benchmarks.harness import (
    EVENTS_PER_PROFILE,
    TAP,
    TARGET,
    Result,
    Settings,
    measured_pair,
    one_run,
    pairs,
    runs_of,
    sampled,
    summary,
    tap_cmd,
    tap_setup,
    target_cfg,
)
from benchmarks.measure import Run, python_cmd, run_pipeline, sandbox
from cdp_demo import configs as demo
from cdp_sandbox.config import Credentials

DEMO_EVENTS = 20  # events a profile in scenario 12
DESTINATIONS = ("dmartech", "engagelab", "nxcloud")
TARGET_CONCURRENCY = 4  # target-cdp's default max_concurrency, per destination
TAP_CONCURRENCY = 8  # tap-primedata's default


def pipeline(s: Settings) -> Result:
    """(5) tap | target, against baseline tap | baseline target."""
    res = Result()
    profiles = max(1, s.records // EVENTS_PER_PROFILE)
    with sandbox(profiles=profiles, events_per_profile=EVENTS_PER_PROFILE) as box:
        tcfg, catalog = tap_setup(box, s, profiles, "s5")
        gcfg = target_cfg(box, s, "s5")
        base, ours = measured_pair(
            box,
            lambda: run_pipeline(
                [
                    python_cmd("benchmarks.baselines", "tap", "--config", str(tcfg)),
                    python_cmd("benchmarks.baselines", "target", "--config", str(gcfg)),
                ],
                workdir=s.workdir,
            ),
            lambda: run_pipeline(
                [tap_cmd(tcfg, catalog), [TARGET, "--config", str(gcfg)]], workdir=s.workdir
            ),
            s.repeat,
        )
    n = profiles * EVENTS_PER_PROFILE

    def ours_rps(r: dict[str, Any]) -> float | None:
        return n / r["wall_s"] if r["ok"] and r["delivered"] >= n else None

    samples = pairs(ours, base, ours_rps)
    samples = [(o, n / b["wall_s"] if b["ok"] else None)
               for (o, _), b in zip(samples, runs_of(base), strict=False)]  # fmt: skip
    res.details.update(records=n, baseline=base, ours=ours)
    res.rows.append(
        sampled(
            "5 tap | target",
            "records/s",
            samples,
            "",
            None,
            f"{n} events; delivered {ours['delivered']}; "
            f"RSS tap {ours['peak_rss_mb'][0]:.0f} / target "
            f"{ours['peak_rss_mb'][-1]:.0f} MiB",
        )
    )
    return res


def demo_pipeline(s: Settings) -> Result:
    """(12) tap | target as users run it: the demo's five routes, 10k profiles x 20 events, 20 ms
    latency: wall against the sum over destinations of requests x latency / concurrency."""
    res = Result()
    profiles, latency_ms = s.demo_profiles, s.demo_latency_ms
    creds = Credentials()
    out = s.workdir / "s12"
    out.mkdir(parents=True, exist_ok=True)
    with sandbox(profiles=profiles, events_per_profile=DEMO_EVENTS, latency_ms=latency_ms) as box:
        tap_cfg = demo.tap_config(box.url, creds, **demo.lookups(
            demo.workspace_profiles(box.url, profiles)))  # fmt: skip
        tap_path = configs.write_json(out / "tap.json", tap_cfg)

        def run() -> Run:  # each repeat a first run: a fresh ledger, as the demo has
            for stale in out.glob("target-cdp-ledger.db*"):
                stale.unlink()
            cfg = demo.target_config(box.url, creds, out)
            for name in DESTINATIONS:  # the sandbox is not rate limited: latency only
                cfg[name]["requests_per_second"] = 1_000_000
            path = configs.write_json(out / "target.json", cfg)
            return run_pipeline(
                [[TAP, "--config", str(tap_path)], [TARGET, "--config", str(path)]],
                workdir=s.workdir,
            )

        runs = []
        for _ in range(max(1, s.repeat)):
            info = one_run(box, run)
            info["calls"] = box.calls()
            runs.append(info)
    tap_conc = int(tap_cfg.get("max_concurrency") or TAP_CONCURRENCY)
    for info in runs:
        calls = info["calls"]
        per_dest = {d: sum(n for k, n in calls.items() if k.startswith(f"{d}:"))
                    for d in DESTINATIONS}  # fmt: skip
        info["destination_requests"] = per_dest
        info["ideal_s"] = sum(per_dest.values()) * latency_ms / 1000 / TARGET_CONCURRENCY
        info["primedata_requests"] = info["requests"] - sum(per_dest.values())
        info["tap_ideal_s"] = info["primedata_requests"] * latency_ms / 1000 / tap_conc
    both = summary(runs)
    res.details.update(profiles=profiles, events_per_profile=DEMO_EVENTS, latency_ms=latency_ms,
                       runs=both)  # fmt: skip

    def over(r: dict[str, Any]) -> float | None:
        return r["wall_s"] / r["ideal_s"] if r["ok"] and r["ideal_s"] else None

    name = "12 demo tap | target"
    req = ", ".join(f"{d} {n:,}" for d, n in both["destination_requests"].items())
    row = sampled(name, "wall / ideal", pairs(both, None, over), "", None,
                  f"{profiles:,} profiles x {DEMO_EVENTS} events, 5 routes, {latency_ms:g} ms; "
                  f"ideal = ({req}) req x {latency_ms:g} ms / {TARGET_CONCURRENCY} = "
                  f"{both['ideal_s']:.1f}s; wall {both['wall_s']:.1f}s")  # fmt: skip
    res.rows.append(row)
    res.rows.append(sampled(name, "wall s", pairs(both, None, lambda r: r["wall_s"]), "", None,
                            f"PrimeData: {both['primedata_requests']:,} requests x "
                            f"{latency_ms:g} ms / {tap_conc} = {both['tap_ideal_s']:.1f}s "
                            "(the tap's own ideal)"))  # fmt: skip
    for i, who in enumerate(("tap", "target")):
        res.rows.append(sampled(name, f"peak RSS MiB {who}",
                                pairs(both, None, lambda r, i=i: r["peak_rss_mb"][i])))  # fmt: skip
    delivered = sum(both["destination_requests"].values())
    res.rows[-1].note = f"{delivered:,} destination requests; exit codes {both['returncodes']}"
    return res
