"""Runs harness.load in a fresh process for the tests (Locust monkey-patches whatever imports it,
so the pytest process itself never does) and prints one JSON line with what the test checks.

Usage: ``python tests/load/_child.py run SCENARIO_JSON [--workers N] [--progress]`` or
``python tests/load/_child.py waker N``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def _hist(h: Any) -> dict[str, Any]:
    return {"count": h.count, "encoded": h.encode() if h.count else "", "oor": h.out_of_range}


def run(scenario_json: str, workers: int, progress: bool) -> dict[str, Any]:
    import msgspec

    from harness.errors import HarnessError
    from harness.load import RunOptions, run_scenario
    from harness.measure.result import Clock, Outcome
    from harness.spec.scenario import Scenario

    scenario = msgspec.json.decode(scenario_json, type=Scenario)
    started = time.monotonic()
    try:
        result = run_scenario(scenario, RunOptions(workers=workers, progress=progress))
    except HarnessError as exc:
        return {
            "error": type(exc).__name__,
            "message": str(exc),
            "wall_s": time.monotonic() - started,
        }
    phases = []
    for p in result.phases:
        all_outcomes = (Outcome.OK, Outcome.FAILED, Outcome.SHED)
        phases.append(
            {
                "name": p.name,
                "counts": msgspec.to_builtins(p.counts),
                "intended_ok": _hist(p.latency()),
                "service_ok": _hist(p.latency(clock=Clock.SERVICE)),
                "intended_all": _hist(p.latency(outcomes=all_outcomes)),
                "service_all": _hist(p.latency(outcomes=all_outcomes, clock=Clock.SERVICE)),
            }
        )
    intervals = [
        {"start_s": i.start_s, "phase": i.phase, "offered": i.offered, "ok": i.counts.ok}
        for i in result.intervals
    ]
    g = result.generator
    return {
        "wall_s": time.monotonic() - started,
        "phases": phases,
        "intervals": intervals,
        "workers": result.workers,
        "target": result.target.url,
        "generator": {
            "valid": g.valid,
            "reasons": list(g.reasons),
            "cpu_p50": g.cpu_percent_p50,
            "lag_p99_ms": g.schedule_lag_p99_ms,
            "cap": g.concurrency_cap,
            "peak": g.concurrency_peak,
            "cap_hits": g.cap_hits,
        },
    }


def waker(n: int) -> dict[str, Any]:
    from harness.load import pacing

    w = pacing.make_waker()
    over = []
    target = time.monotonic_ns() + 5_000_000
    for i in range(n):
        target += 3_000_000 + (i % 5) * 700_000
        pacing.gevent.sleep(0)
        w.wait_until(target)
        over.append(time.monotonic_ns() - target)
    w.close()
    return {"kind": type(w).__name__, "overshoot_ns": over}


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("scenario_json")
    r.add_argument("--workers", type=int, default=0)
    r.add_argument("--progress", action="store_true")
    w = sub.add_parser("waker")
    w.add_argument("n", type=int)
    args = parser.parse_args()
    out = (
        run(args.scenario_json, args.workers, args.progress) if args.cmd == "run" else waker(args.n)
    )
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
