"""Runs whose tail has a known cause: request by request, through the generator's real sampler.

Every request has the reference service's stages (``Server-Timing``) with small noise; a chosen
share of them (or those intended inside a window) gets ``extra_ms`` more in one chosen stage,
the cause. Their latencies fill the phase's histogram and the requests go through
:class:`harness.measure.TailSampler`, so ``harness.slo.explain_tails`` sees exactly what a live
run would give it. Used by the tail tests and the README's screenshot.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Final

from harness.measure import (
    ClientMarks,
    FaultWindow,
    IntervalRecord,
    RequestCounts,
    RunResult,
    ServerStage,
    TailSampler,
)
from harness.measure import TracedRequest as Req
from harness.testing.runs import hist, phase, run_result

__all__ = ["BASE_STAGES_MS", "traced_request", "traced_run"]

#: The reference service's stages at rest (ms), about what it sends on a quiet machine.
BASE_STAGES_MS: Final = {
    "queue": 0.02,
    "decode": 0.2,
    "tokenise": 0.02,
    "features": 0.1,
    "model": 0.4,
    "audit": 0.3,
    "encode": 0.1,
}
_RATE: Final = 200.0  # requests per second: request i is intended at i / _RATE


def traced_request(
    i: int,
    rng: random.Random,
    cause: str | None = None,
    extra_ms: float = 0.0,
    *,
    server: bool = True,
    endpoint: str = "score",
) -> Req:
    """Request ``i``: stages with noise, ``extra_ms`` more in ``cause``; its latency is their sum
    plus a little time outside the server and in the generator. A slowed ``features`` stage is
    degraded. ``server=False``: no Server-Timing (the client's marks only)."""
    stages = {k: v * rng.uniform(0.7, 1.4) for k, v in BASE_STAGES_MS.items()}
    if cause is not None:
        stages[cause] = stages.get(cause, 0.0) + extra_ms * rng.uniform(0.8, 1.2)
    flag = {"features": "degraded"} if cause == "features" else {}
    total = sum(stages.values())
    service = total + rng.uniform(0.1, 0.3)
    generator = rng.uniform(0.0, 0.05)
    timing = (
        *(ServerStage(k, round(v, 3), flag.get(k, "")) for k, v in stages.items()),
        ServerStage("total", round(total, 3)),
    )
    return Req(
        phase="steady",
        endpoint=endpoint,
        outcome="ok",
        trace_id=f"{i:032x}".replace("0", "a"),
        intended_s=i / _RATE,
        sent_s=i / _RATE + generator / 1000,
        latency_ms=service + generator,
        service_ms=service,
        stages=timing if server else (),
        client=ClientMarks(0.0, 0.02, service - 0.05, 0.03),
    )


def traced_run(
    n: int,
    cause: str | None = None,
    share: float = 0.0,
    extra_ms: float = 0.0,
    seed: int = 0,
    *,
    server: bool = True,
    window: tuple[float, float] | None = None,
) -> RunResult:
    """A one-phase run ("steady", endpoint "score") of ``n`` requests at 200/s; ``share`` of them
    (or, with ``window``, those intended inside it, a fault window named "slow") slowed in
    ``cause`` by about ``extra_ms``."""
    rng = random.Random(seed)
    sampler = TailSampler(seed=seed)
    latencies_us = []
    for i in range(n):
        t = i / _RATE
        hit = window[0] <= t < window[1] if window is not None else rng.random() < share
        r = traced_request(i, rng, cause if hit else None, extra_ms, server=server)
        ns = round(r.latency_ms * 1e6)
        latencies_us.append(max(1, ns // 1000))
        mask = sampler.want(r.phase, r.endpoint, ns)
        if mask:
            sampler.add(mask, r, ns)
    windows = () if window is None else (FaultWindow("slow", *window),)
    per = int(_RATE)
    seconds = [latencies_us[i : i + per] for i in range(0, n, per)]
    records = tuple(
        IntervalRecord(
            start_s=float(k),
            length_s=1.0,
            phase="steady",
            offered=len(values),
            counts=RequestCounts(sent=len(values), ok=len(values)),
            latency=hist(values),
        )
        for k, values in enumerate(seconds)
    )
    run = run_result(
        phase("steady", ok=latencies_us, duration_s=n / _RATE),
        intervals=records,
        fault_windows=windows,
        duration_s=n / _RATE,
    )
    return dataclasses.replace(run, tails=sampler.samples())
