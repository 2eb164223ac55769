"""Master CPU per 1 s interval to merge worker snapshots, for 8, 32 and 128 simulated workers.

Each simulated worker is a real :class:`~harness.measure.Recorder` fed one second of its share of
a cluster-wide rate (``--rate``, default 100,000 req/s: 2 endpoints, 1% failed, lognormal
latencies) and asked for its periodic snapshot as a worker does (``take_wire(totals=False)``: the
interval series; phase totals travel once, at the end); the master's cost is the CPU time
(``time.process_time``) of ``merge_wire`` over all workers' snapshots of that second, median over
``--seconds`` seconds. For comparison the same run also times full snapshots (``take_wire()``,
what workers sent every report before). Snapshot generation is not timed. The issue's bar: under
20% of one core (200 ms per 1 s interval) at 128 workers.

Run: ``python benchmarks/bench_merge.py`` (prints one JSON line per worker count).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from harness.measure import Outcome, Recorder

RUN_START_NS = 1_700_000_000 * 1_000_000_000
ENDPOINTS = ("/v1/score", "/v2/models/fraud/infer")


def _worker_snapshot(
    second: int, n: int, rng: np.random.Generator, *, totals: bool = False
) -> bytes:
    rec = Recorder(run_start_wall_ns=RUN_START_NS, lateness_ns=5_000_000)
    offsets = second + np.sort(rng.uniform(0, 1, n))
    service_us = rng.lognormal(np.log(4_000), 0.5, n).astype(np.int64)
    lag_us = rng.exponential(50, n).astype(np.int64)
    failed = rng.random(n) < 0.01
    for i, offset in enumerate(offsets.tolist()):
        intended = rec.monotonic_ns_at(offset)
        sent = intended + int(lag_us[i]) * 1000
        rec.record(
            phase="steady",
            endpoint=ENDPOINTS[i % 2],
            outcome=Outcome.FAILED if failed[i] else Outcome.OK,
            intended_ns=intended,
            sent_ns=sent,
            done_ns=sent + int(service_us[i]) * 1000,
        )
    return rec.take_wire(totals=totals)


def measure(workers: int, rate: int, seconds: int) -> dict[str, float]:
    rng = np.random.default_rng(workers)
    per_worker = max(1, rate // workers)
    master = Recorder(run_start_wall_ns=RUN_START_NS, lateness_ns=5_000_000)
    full_master = Recorder(run_start_wall_ns=RUN_START_NS, lateness_ns=5_000_000)
    cpu_ms, full_ms, sizes = [], [], []
    for second in range(seconds):
        snaps = [_worker_snapshot(second, per_worker, rng) for _ in range(workers)]
        full = [_worker_snapshot(second, per_worker, rng, totals=True) for _ in range(workers)]
        sizes.append(sum(len(s) for s in snaps) / workers)
        t0 = time.process_time()
        for snap in snaps:
            master.merge_wire(snap)
        cpu_ms.append((time.process_time() - t0) * 1000)
        t0 = time.process_time()
        for snap in full:
            full_master.merge_wire(snap)
        full_ms.append((time.process_time() - t0) * 1000)
    median = statistics.median(cpu_ms)
    return {
        "workers": workers,
        "cluster_rps": rate,
        "per_worker_rps": per_worker,
        "snapshot_bytes": round(statistics.median(sizes)),
        "master_cpu_ms_per_interval": round(median, 1),
        "master_core_share": round(median / 1000, 3),
        "per_snapshot_ms": round(median / workers, 2),
        "full_snapshots_cpu_ms_per_interval": round(statistics.median(full_ms), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="*", default=[8, 32, 128])
    args = parser.parse_args()
    for n in args.workers:
        print(json.dumps(measure(n, args.rate, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
