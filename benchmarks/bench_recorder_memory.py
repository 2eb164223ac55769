"""Memory of the recording process over a long run, without waiting for it (issue 11).

A real :class:`~harness.measure.Recorder`, as the local runner or master uses it, records 1,000
OK responses per second of a synthetic clock (two endpoints, lognormal latencies) for
``--minutes`` minutes, once with the interval log attached (what ``slo-harness run`` does: each
interval is written to ``latency.partial.hlog`` once it is complete, ``Recorder.flush_log`` as the
run's log flusher calls it, and leaves the recording slots) and once without. As in the engine,
the heap is frozen out of the collector first (``gc.freeze()``) and RSS (``psutil``) is sampled
without collecting, at minute 1, every 5 minutes and at the end (an earlier version collected
before each sample, which hid garbage waiting for a full collection: hdrh's histogram <-> encoder
cycle, see ``harness.measure.histogram.acyclic``); then ``build()`` runs (the end of a run) and
the RSS after it is reported too. No load generator, no target: this isolates what grows with a
run's length. The live soak is ``bench_soak_memory.py``.

Run: ``python benchmarks/bench_recorder_memory.py --minutes 30``.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
from pathlib import Path

import numpy as np
import psutil

from harness.measure import IntervalLogWriter, Outcome, PhaseKind, PhaseMeta, Recorder

RUN_START_NS = 1_700_000_000 * 1_000_000_000
RATE = 1_000


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def run(minutes: int, *, logged: bool, folder: Path) -> dict[str, float]:
    rec = Recorder(run_start_wall_ns=RUN_START_NS, lateness_ns=5_000_000)
    if logged:
        path = folder / "latency.partial.hlog"
        rec.attach_log(IntervalLogWriter(path, start_wall_s=RUN_START_NS / 1e9, meta={}))
    rng = np.random.default_rng(0)
    service_us = rng.lognormal(np.log(4_000), 0.5, RATE * 60).astype(np.int64).tolist()
    out: dict[str, float] = {"logged": float(logged)}
    for second in range(minutes * 60):
        base = rec.monotonic_ns_at(float(second))
        for i in range(RATE):
            intended = base + i * 1_000_000
            rec.record(
                phase="soak",
                endpoint="score" if i % 2 else "infer",
                outcome=Outcome.OK,
                intended_ns=intended,
                sent_ns=intended + 50_000,
                done_ns=intended
                + 50_000
                + service_us[(second * RATE + i) % len(service_us)] * 1000,
            )
        rec.flush_log(second)  # as the log flusher does just after each interval's end
        if second == 59 or (second + 1) % 300 == 0:
            out[f"rss_minute_{(second + 1) // 60}_mb"] = round(_rss_mb(), 1)
    out[f"rss_minute_{minutes}_mb"] = round(_rss_mb(), 1)
    phases = [PhaseMeta("soak", PhaseKind.SOAK, True, 0.0, minutes * 60.0, float(RATE))]
    _, series = rec.build(phases)
    out["intervals"] = len(series)
    out["rss_after_build_mb"] = round(_rss_mb(), 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--only-logged", action="store_true")
    args = parser.parse_args()
    gc.collect()
    gc.freeze()  # as the engine does before a run (harness/load/engine.py)
    with tempfile.TemporaryDirectory() as tmp:
        modes = (True,) if args.only_logged else (True, False)
        for logged in modes:
            print(json.dumps(run(args.minutes, logged=logged, folder=Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
