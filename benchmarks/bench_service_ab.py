"""CPU per request of the reference service, before vs after a change, measured side by side.

On a shared machine the CPU time one request costs drifts by 30% or more from minute to minute
(other jobs evict caches and steal cycles), which is more than most changes are worth; two runs
one after the other compare two different machines. This benchmark runs both trees *at the same
time*: the *before* tree (``--before REF``, extracted with ``git archive``; the service only) and
this checkout each start ``python -m reference_service`` pinned to the **same** core (durable
audit, in-process feature store), and two wrk processes pinned to the other core drive
``POST /v1/score`` on both at once (closed model, ``-c`` connections each, bodies from
``score_tokens.lua``: card tokens, never PANs). Both services see the same contention in every
round, so the ratio of their CPU per request is what the change did. The service's CPU time is
read from /proc (psutil: user + system of the process tree) around each round; rounds repeat and
the figures are medians.

The absolute numbers are *requests per CPU-second while sharing a core with the other tree*:
lower than a core of its own gives (two processes on one core evict each other's caches). Quote
the ratio; take absolute throughput from ``bench_service.py``. A fixed in-flight limit
(``--max-in-flight 64``, the default here) keeps wall-time admission control from shedding load
because the core is shared (it would, by design); every audit record is still fsynced before its
answer.

    .venv/bin/python benchmarks/bench_service_ab.py --before <commit> [--rounds 5] [--duration 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench_service import _audit_records, _cpu_s, _free_port, _start_service, _wait_ready, _wrk

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _extract(ref: str, into: Path) -> Path:
    """The service package of ``ref`` under ``into`` (imported through PYTHONPATH)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "reference_service"],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


class _Service:
    def __init__(self, name: str, tree: Path, extra: list[str]) -> None:
        self.name = name
        self.work = Path(tempfile.mkdtemp(prefix=f"bench-ab-{name}-"))
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # ``python -m`` puts the working directory first on sys.path: start in the tree, with
        # the tree on PYTHONPATH too, so its package wins over the editable install.
        saved, cwd = os.environ.get("PYTHONPATH"), os.getcwd()
        os.environ["PYTHONPATH"] = str(tree)
        os.chdir(tree)
        try:
            self.proc = _start_service(self.work, self.port, extra)
        finally:
            os.chdir(cwd)
            if saved is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = saved
        self.per_cpu_s: list[float] = []
        self.rps: list[float] = []
        self.answered = 0

    def round(self, connections: int, duration_s: int) -> None:
        cpu0 = _cpu_s(self.proc.pid)
        r = _wrk(self.base, connections, duration_s)
        cpu = _cpu_s(self.proc.pid) - cpu0
        ok = r["requests"] - r["errors_status"]
        self.answered += int(ok)
        self.per_cpu_s.append(ok / cpu if cpu > 0 else 0.0)
        self.rps.append(ok / (r["duration_us"] / 1e6))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        records = _audit_records(self.work / "audit")
        shutil.rmtree(self.work, ignore_errors=True)
        return records


def _together(services: list[_Service], connections: int, duration_s: int) -> None:
    errors: list[BaseException] = []

    def run(svc: _Service) -> None:
        try:
            svc.round(connections, duration_s)
        except BaseException as exc:  # reported after both finished
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="git ref of the before tree")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=8, help="seconds per round (1..120)")
    ap.add_argument("--connections", type=int, default=16, help="wrk -c per service")
    ap.add_argument("--max-in-flight", default="64", help="passed to both services")
    args = ap.parse_args()
    if not 1 <= args.duration <= 120 or args.rounds < 1:
        ap.error("--duration must be 1..120 and --rounds >= 1")
    for tool in ("wrk", "taskset", "git", "tar"):
        if shutil.which(tool) is None:
            print(f"{tool} not found", file=sys.stderr)
            return 2
    scratch = Path(tempfile.mkdtemp(prefix="bench-ab-tree-"))
    extra = ["--max-in-flight", args.max_in_flight]
    services: list[_Service] = []
    load_start = os.getloadavg()[0]
    try:
        before = _extract(args.before, scratch)
        services = [_Service("before", before, extra), _Service("after", ROOT, extra)]
        for svc in services:
            _wait_ready(svc.base, svc.proc)
        _together(services, args.connections, 3)  # warm-up
        for svc in services:
            svc.per_cpu_s.clear()
            svc.rps.clear()
            svc.answered = _audit_records(svc.work / "audit")
        for _ in range(args.rounds):
            _together(services, args.connections, args.duration)
    finally:
        records = {svc.name: (svc.stop(), svc.answered) for svc in services}
        shutil.rmtree(scratch, ignore_errors=True)
    b, a = services
    print("| tree | requests per CPU-second (rounds) | median | CPU us per request | req/s |")
    print("|---|---|---:|---:|---:|")
    for svc in services:
        med = statistics.median(svc.per_cpu_s)
        rounds = ", ".join(f"{x:,.0f}" for x in svc.per_cpu_s)
        print(
            f"| {svc.name} | {rounds} | {med:,.0f} | {1e6 / med:.0f} | "
            f"{statistics.median(svc.rps):,.0f} |"
        )
    ratios = [y / x for x, y in zip(b.per_cpu_s, a.per_cpu_s, strict=True)]
    print(
        f"after/before requests per CPU-second: median of per-round ratios "
        f"{statistics.median(ratios):.3f} (rounds: {', '.join(f'{r:.3f}' for r in ratios)}); "
        f"CPU per request {1 / statistics.median(ratios):.3f}x"
    )
    print(
        f"load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end "
        f"({os.cpu_count()} cores); before = {args.before}, wrk -c{args.connections} each, "
        f"{args.rounds} rounds of {args.duration} s"
    )
    for name, (rec, answered) in records.items():
        print(f"{name}: audit records {rec}, 2xx answers by wrk {answered}", file=sys.stderr)
        if rec < answered:
            raise SystemExit(f"{name}: fewer audit records than answered decisions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
