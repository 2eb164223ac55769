"""Hot-path costs of the generator's pure half: one ``Recorder.record``, one request body, and one
worker snapshot (``take_wire`` + ``merge_wire``), measured in the same run.

Run ``python benchmarks/bench_recorder.py``. Each stage is timed over a batch per repeat and the
reported figure is the median over repeats (this 2-core shared machine is noisy). For scale: a bare
FastHttpUser spends about 120 us of CPU per request here (README, "Load generator", from
bench_generator.py), so a few microseconds of recording and payload are a few percent of it. No
pass/fail: the numbers are context for the overhead benchmark of the Locust user (issue 3).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from harness.measure import Outcome, Recorder
from harness.payload import PayloadGenerator

REPEATS = 7
BATCH = 20_000


def _per_call_us(fn: Callable[[int], None], n: int) -> float:
    t0 = time.perf_counter_ns()
    fn(n)
    return (time.perf_counter_ns() - t0) / n / 1000


def _record(n: int) -> None:
    rec = Recorder(run_start_wall_ns=time.time_ns(), lateness_ns=5_000_000)
    base = rec.monotonic_ns_at(0.0)
    step = 3_333_333  # 300 requests/s
    for i in range(n):
        intended = base + i * step
        rec.record(
            phase="steady",
            endpoint="score",
            outcome=Outcome.OK,
            intended_ns=intended,
            sent_ns=intended + 150_000,
            done_ns=intended + 2_600_000 + (i % 97) * 10_000,
        )


def _bodies(n: int) -> None:
    gen = PayloadGenerator(1, 10_000, 0.2)
    for _ in range(n):
        gen.next_score_body()


def _snapshot_ms() -> float:
    """One 3-second worker report at 1,000 requests/s over two endpoints, shipped and merged."""
    worker = Recorder(run_start_wall_ns=time.time_ns(), lateness_ns=5_000_000)
    master = Recorder(run_start_wall_ns=worker.run_start_wall_ns, lateness_ns=5_000_000)
    base = worker.monotonic_ns_at(0.0)
    for i in range(3000):
        intended = base + i * 1_000_000
        worker.record(
            phase="steady",
            endpoint="score" if i % 10 else "infer",
            outcome=Outcome.OK,
            intended_ns=intended,
            sent_ns=intended,
            done_ns=intended + 2_000_000 + (i % 500) * 20_000,
        )
    t0 = time.perf_counter_ns()
    master.merge_wire(worker.take_wire())
    return (time.perf_counter_ns() - t0) / 1e6


def main() -> int:
    """Print a Markdown table of median costs."""
    record = statistics.median(_per_call_us(_record, BATCH) for _ in range(REPEATS))
    body = statistics.median(_per_call_us(_bodies, BATCH) for _ in range(REPEATS))
    snap = statistics.median(_snapshot_ms() for _ in range(REPEATS))
    print("| stage | median cost |")
    print("|---|---|")
    print(f"| Recorder.record (4 HDR records) | {record:.2f} us/call |")
    print(f"| PayloadGenerator.next_score_body | {body:.2f} us/call |")
    print(f"| take_wire + merge_wire (3 s at 1,000/s) | {snap:.2f} ms/report |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
