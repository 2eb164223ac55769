"""Runs harness.load in a fresh process for the tests (Locust monkey-patches whatever imports it,
so the pytest process itself never does) and prints one JSON line with what the test checks.

Usage: ``python tests/load/_child.py run SCENARIO_JSON [--workers N] [--remote-workers R]
[--master-port P] [--worker-wait-s S] [--progress]``, ``python tests/load/_child.py waker N`` or
``python tests/load/_child.py refuse SCENARIO_JSON`` (a bare master hands a real worker a share
it must refuse).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any


def _hist(h: Any) -> dict[str, Any]:
    return {"count": h.count, "encoded": h.encode() if h.count else "", "oor": h.out_of_range}


def run(scenario_json: str, args: argparse.Namespace) -> dict[str, Any]:
    import msgspec

    from harness.errors import HarnessError
    from harness.load import RunOptions, run_scenario
    from harness.measure.result import Clock, Outcome
    from harness.spec.scenario import Scenario

    scenario = msgspec.json.decode(scenario_json, type=Scenario)
    started = time.monotonic()
    try:
        options = RunOptions(
            workers=args.workers,
            progress=args.progress,
            remote_workers=args.remote_workers,
            master_port=args.master_port,
            worker_wait_s=args.worker_wait_s,
        )
        result = run_scenario(scenario, options)
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
        "tails": _tails(result),
    }


def _tails(result: Any) -> list[dict[str, Any]]:
    from harness.slo import explain_tails

    return [
        {
            "phase": e.phase,
            "endpoint": e.endpoint,
            "source": e.source.value,
            "driver": e.driver,
            "sentence": e.sentence(),
            "p99_ms": e.p99_ms,
            "slowest": [[r.trace_id, r.latency_ms, r.intended_s, r.sent_s] for r in e.slowest],
            "above_p99": [[r.trace_id, r.latency_ms] for r in e.above_p99],
        }
        for e in explain_tails(result)
    ]


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


def station() -> dict[str, Any]:
    """Station.hand_over at the cap: the first slot to finish takes the parked job; a deadline
    withdraws it, and no slot gets it afterwards."""
    from harness.load import pacing
    from harness.load.station import Job, Station

    gevent = pacing.gevent
    st = Station()
    got: list[tuple[str, str]] = []

    def slot(name: str, work_s: float, jobs: int) -> None:
        for _ in range(jobs):
            job = st.next_job()
            got.append((name, job.phase))
            gevent.sleep(work_s)
            st.finished()

    def job(tag: str) -> Job:
        return Job(None, tag, "e", "GET", "/", b"", 0)  # type: ignore[arg-type]

    slots = [gevent.spawn(slot, "slow", 0.2, 1), gevent.spawn(slot, "fast", 0.05, 2)]
    gevent.sleep(0.01)
    out: dict[str, Any] = {}
    out["first"] = [st.try_dispatch(job("a")), st.try_dispatch(job("b"))]
    out["idle_left"] = st.try_dispatch(job("never"))  # both busy: False, nothing handed out
    t0 = time.monotonic()
    out["parked"] = st.hand_over(job("c"), time.monotonic_ns() + 2_000_000_000)
    out["parked_wait_s"] = time.monotonic() - t0
    out["busy_after_park"] = st.busy
    # Both busy again (fast runs "c", slow still runs "a"): a deadline that passes withdraws.
    out["withdrawn"] = st.hand_over(job("d"), time.monotonic_ns() + 20_000_000)
    gevent.joinall(slots, timeout=5)
    out["got"] = list(got)
    out["busy_end"] = st.busy
    # One deadline for several hand-overs (a walk's drain deadline): taken, taken, then
    # withdrawn when it passes (the slot ran out of jobs), each wait bounded by that deadline.
    got.clear()
    one = gevent.spawn(slot, "one", 0.05, 3)
    gevent.sleep(0.01)
    st.try_dispatch(job("e"))
    deadline = time.monotonic_ns() + 400_000_000
    out["reuse"] = [st.hand_over(job(tag), deadline) for tag in ("f", "g")]
    t0 = time.monotonic()
    out["reuse"].append(st.hand_over(job("h"), deadline))
    out["late_s"] = time.monotonic() - deadline / 1e9
    out["last_wait_s"] = time.monotonic() - t0
    one.join(timeout=5)
    out["reuse_got"] = list(got)
    st.disarm()
    return out


def refuse(scenario_json: str) -> dict[str, Any]:
    """A master (no users, no checks of its own) sends a real ``slo-harness worker`` a share
    aimed at 0.0.0.0 (not allowed, and harmless should the check fail: it is this machine), and
    reports what came back; plus the worker-side rule on clock disagreement."""
    import msgspec
    from locust.env import Environment

    from harness.load.distributed import MasterCoordinator, active_workers, refusal
    from harness.load.session import RunSpec
    from harness.load.user import SloUser
    from harness.spec.scenario import Scenario

    scenario = msgspec.json.decode(scenario_json, type=Scenario)
    env = Environment(user_classes=[SloUser], stop_timeout=0.0)
    master = env.create_master_runner("127.0.0.1", 0)
    coordinator = MasterCoordinator(env, master)
    cmd = [sys.executable, "-m", "harness.cli", "worker", "--master", "127.0.0.1"]
    worker = subprocess.Popen(
        [*cmd, "--master-port", str(master.server.port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(300):
            if active_workers(master):
                break
            time.sleep(0.05)  # gevent-patched: the master keeps listening
        now = time.time_ns()
        coordinator.launch(
            RunSpec(scenario=scenario, target_url="http://0.0.0.0:9", run_start_wall_ns=now + 10**9)
        )
        finished = coordinator.wait_finals(15.0)
        master.quit()
        worker_rc = worker.wait(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=5)
    assert worker.stderr is not None
    ok = RunSpec(scenario=scenario, target_url="http://127.0.0.1:9", run_start_wall_ns=now)
    offsets = {"lead_1s": 10**9, "worker_clock_ahead": -(10**6), "worker_clock_behind": 10**10}
    return {
        "finished": finished,
        "problems": [p for h in coordinator.health.values() for p in h.problems],
        "worker_rc": worker_rc,
        "worker_stderr": worker.stderr.read(),
        # the start lies offset_ns ahead of the worker's clock
        "clock": {name: refusal(ok, now - offset_ns) for name, offset_ns in offsets.items()},
        # the worker's own allowlist check uses the allowlist the spec carries (no traffic)
        "allow": {
            name: refusal(msgspec.structs.replace(ok, **change), now - 10**9)
            for name, change in _allow_cases(ok).items()
        },
    }


def _allow_cases(ok: Any) -> dict[str, dict[str, Any]]:
    import msgspec

    from harness.spec import TlsSpec
    from harness.target import Allowlist

    remote = "http://10.1.2.3:9"
    tls = TlsSpec(ca="/nonexistent/ca.pem")
    return {
        "remote_default": {"target_url": remote},
        "remote_allowed": {"target_url": remote, "allow": Allowlist.build(["10.1.2.0/24"])},
        "tls_file_missing_here": {
            "target_url": "https://127.0.0.1:9",
            "scenario": msgspec.structs.replace(ok.scenario, tls=tls),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("scenario_json")
    r.add_argument("--workers", type=int, default=0)
    r.add_argument("--remote-workers", type=int, default=0)
    r.add_argument("--master-port", type=int)
    r.add_argument("--worker-wait-s", type=float, default=60.0)
    r.add_argument("--progress", action="store_true")
    w = sub.add_parser("waker")
    w.add_argument("n", type=int)
    f = sub.add_parser("refuse")
    f.add_argument("scenario_json")
    sub.add_parser("station")
    args = parser.parse_args()
    if args.cmd == "run":
        out = run(args.scenario_json, args)
    elif args.cmd == "refuse":
        out = refuse(args.scenario_json)
    elif args.cmd == "station":
        out = station()
    else:
        out = waker(args.n)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
