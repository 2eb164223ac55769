"""What a model call costs inline vs on the inference thread (the ``auto`` policy's threshold).

Runs the packaged fraud model (batch 1) ``--calls`` times on a running asyncio loop (uvloop when
installed, as the service runs), interleaved in ``--rounds`` rounds: inline
(:meth:`Inference.inline`) and offloaded to one inference thread (:meth:`Inference.offload`),
one call at a time. Reported per call, medians over rounds: the process's CPU time (user +
system, every thread: the hop's cost is split between the loop and the inference thread) and the
wall time of one call as the awaiting coroutine sees it. The difference is the hop, which
:mod:`reference_service.inference` compares with the model's own time. With ``--model-cpu-ms``
the model carries the ONNX ballast (:mod:`reference_service.model.ballast`), for scale.

    .venv/bin/python benchmarks/bench_inference_hop.py [--calls 5000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from reference_service.inference import Inference, InferencePolicy
from reference_service.model.ballast import BallastScorer
from reference_service.model.features import N_FEATURES
from reference_service.model.scorer import OnnxScorer, Scorer


async def _calls(run: Inference, scorer: Scorer, n: int, offload: bool) -> tuple[float, float]:
    """(process CPU s per call, wall s per call) of ``n`` sequential calls."""
    row = np.zeros((1, N_FEATURES), dtype=np.float32)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        if offload:
            await run.offload(scorer.score, row)
        else:
            run.inline(scorer.score, row)
            await asyncio.sleep(0)  # the request's other awaits: keep the loop turning alike
    return (time.process_time() - c0) / n, (time.perf_counter() - t0) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model-cpu-ms", type=float, default=0.0)
    args = ap.parse_args()
    scorer: Scorer = OnnxScorer.load()
    if args.model_cpu_ms > 0:
        scorer = BallastScorer.load(scorer, args.model_cpu_ms)
    scorer.warm(500)
    run = Inference(InferencePolicy.THREAD)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    res: dict[str, list[tuple[float, float]]] = {"inline": [], "thread": []}
    load = os.getloadavg()[0]
    try:
        for _ in range(args.rounds):
            for name in res:
                res[name].append(runner(_calls(run, scorer, args.calls, name == "thread")))
    finally:
        run.close()
    med = {k: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v))
           for k, v in res.items()}  # fmt: skip
    print(f"{args.calls} calls x {args.rounds} rounds, model + {args.model_cpu_ms:g} ms ballast; "
          f"load average {load:.1f} -> {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print("| per call | inline | thread | hop |")
    print("|---|---:|---:|---:|")
    for i, label in enumerate(("CPU (process, all threads), us", "wall, us")):
        a, b = med["inline"][i] * 1e6, med["thread"][i] * 1e6
        print(f"| {label} | {a:.1f} | {b:.1f} | {b - a:+.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
