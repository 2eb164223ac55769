"""The generator watches itself: is it the target's latency we measured, or our own?

Two symptoms of a generator that pollutes its numbers, both checked against the scenario's
``generator`` limits:

- **CPU**: each generator process samples its own CPU use once per interval. A process above
  ``max_cpu_percent`` (default 90, Locust's own warning level) in more than
  :data:`SUSTAINED_FRACTION` of its samples, and in at least :data:`MIN_HOT_SAMPLES` of them, is
  saturated: a single busy second (start-up, a GC pause) is not a verdict, a tenth of the run is.
- **Schedule lag**: how late the scheduler woke for an arrival (wake-up minus intended time),
  measured only on arrivals not held back by the concurrency cap. Waiting for a free connection
  is the target being slow (counted as ``cap_hits`` and visible in the intended-clock latency);
  waking late is the generator being slow. A p99 beyond ``max_lag_p99_ms`` invalidates the run.

Pure functions over samples, so the rules are tested without running load; the samplers are a
small Protocol with a psutil implementation and fakes in tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import psutil

from harness.measure import GeneratorHealth, LatencyHistogram
from harness.spec import GeneratorLimits

__all__ = [
    "MIN_HOT_SAMPLES",
    "SUSTAINED_FRACTION",
    "CpuSampler",
    "ProcessCpuSampler",
    "ProcessHealth",
    "assess",
]

SUSTAINED_FRACTION: Final = 0.10
MIN_HOT_SAMPLES: Final = 3


class CpuSampler(Protocol):
    """CPU use of one process since the previous call, in percent of one core."""

    def sample(self) -> float:
        """Percent since the previous call (the first call may return 0)."""


class ProcessCpuSampler:
    """psutil's ``cpu_percent`` of a process (default: this one)."""

    def __init__(self, pid: int | None = None) -> None:
        self._process = psutil.Process(pid)
        self._process.cpu_percent(None)  # prime: the first reading is always 0

    def sample(self) -> float:
        """See :class:`CpuSampler`."""
        return float(self._process.cpu_percent(None))


@dataclass(frozen=True, slots=True)
class ProcessHealth:
    """What one generator process observed about itself over the run."""

    name: str  # "local", "worker 0", ...
    cpu_samples: tuple[float, ...]
    schedule_lag: LatencyHistogram  # microseconds
    concurrency_cap: int  # connection slots (Locust users) the process had
    concurrency_peak: int  # most requests in flight at once
    cap_hits: int  # arrivals delayed because every slot was busy
    problems: tuple[str, ...] = ()  # anything else that makes this process's numbers incomplete


def _hot_reason(p: ProcessHealth, limit: float) -> str | None:
    samples = p.cpu_samples
    hot = sum(1 for s in samples if s > limit)
    if samples and hot >= max(MIN_HOT_SAMPLES, math.ceil(SUSTAINED_FRACTION * len(samples))):
        return (
            f"{p.name}: CPU above {limit:g}% in {hot} of {len(samples)} samples "
            f"(max {max(samples):.0f}%): the generator was saturated"
        )
    return None


def assess(processes: Sequence[ProcessHealth], limits: GeneratorLimits) -> GeneratorHealth:
    """Combine every generator process's observations into one verdict on the generator.

    Caps and cap hits add up across processes; the concurrency peak is the sum of each
    process's own peak (an upper bound of the global peak: the peaks need not coincide).
    """
    samples = sorted(s for p in processes for s in p.cpu_samples)
    lag = LatencyHistogram()
    for p in processes:
        lag.add(p.schedule_lag)
    reasons = [r for p in processes if (r := _hot_reason(p, limits.max_cpu_percent))]
    reasons.extend(problem for p in processes for problem in p.problems)
    lag_p99_ms = lag.percentile_ms(99.0)
    if lag_p99_ms > limits.max_lag_p99_ms:
        reasons.append(
            f"schedule lag p99 {lag_p99_ms:.2f} ms exceeds {limits.max_lag_p99_ms:g} ms: the "
            "generator could not send on time"
        )
    if lag.out_of_range:
        reasons.append(f"{lag.out_of_range} schedule-lag samples were out of range")
    return GeneratorHealth(
        cpu_percent_p50=samples[len(samples) // 2] if samples else 0.0,
        cpu_percent_max=samples[-1] if samples else 0.0,
        schedule_lag_p99_ms=lag_p99_ms,
        schedule_lag_max_ms=lag.max_us / 1000.0,
        concurrency_cap=sum(p.concurrency_cap for p in processes),
        concurrency_peak=sum(p.concurrency_peak for p in processes),
        cap_hits=sum(p.cap_hits for p in processes),
        valid=not reasons,
        reasons=tuple(reasons),
    )
