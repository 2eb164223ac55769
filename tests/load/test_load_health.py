"""The generator's self-assessment: sustained CPU saturation and schedule lag invalidate a run."""

from __future__ import annotations

from harness.load.health import CpuSampler, ProcessHealth, assess
from harness.measure.histogram import LatencyHistogram
from harness.spec.scenario import GeneratorLimits


class FakeCpu:
    """A CpuSampler replaying fixed readings."""

    def __init__(self, readings: list[float]) -> None:
        self._readings = list(readings)

    def sample(self) -> float:
        return self._readings.pop(0)


def _process(cpu: CpuSampler, n: int, lag_us: int = 50, name: str = "local") -> ProcessHealth:
    lag = LatencyHistogram()
    for _ in range(100):
        lag.record(lag_us)
    return ProcessHealth(name, tuple(cpu.sample() for _ in range(n)), lag, 64, 5, 0)


def test_sustained_cpu_above_the_limit_invalidates_the_run() -> None:
    """Four of twenty samples above 90% (20%) is saturation; the reason names the process."""
    readings = [40.0] * 16 + [95.0] * 4
    health = assess([_process(FakeCpu(readings), 20, name="worker 1")], GeneratorLimits())
    assert not health.valid
    assert any("worker 1" in r and "CPU above 90%" in r for r in health.reasons)
    assert health.cpu_percent_max == 95.0


def test_a_brief_cpu_spike_is_not_saturation() -> None:
    """Two hot samples out of forty are below both the 3-sample and the 10% thresholds."""
    readings = [30.0] * 38 + [99.0, 99.0]
    health = assess([_process(FakeCpu(readings), 40)], GeneratorLimits())
    assert health.valid
    assert health.reasons == ()


def test_a_tiny_cpu_limit_flags_any_busy_generator() -> None:
    """With the limit forced to 1%, an ordinary 10% generator is reported saturated."""
    health = assess([_process(FakeCpu([10.0] * 10), 10)], GeneratorLimits(max_cpu_percent=1.0))
    assert not health.valid


def test_schedule_lag_beyond_the_bound_invalidates_the_run() -> None:
    """A lag p99 of 20 ms against a 10 ms bound is reported, with the number."""
    health = assess([_process(FakeCpu([5.0] * 5), 5, lag_us=20_000)], GeneratorLimits())
    assert not health.valid
    assert any("schedule lag p99 20.0" in r for r in health.reasons)


def test_processes_are_combined() -> None:
    """Caps, peaks and cap hits add up across processes; lag merges."""
    a = _process(FakeCpu([10.0] * 3), 3, lag_us=100)
    b = _process(FakeCpu([20.0] * 3), 3, lag_us=300)
    health = assess([a, b], GeneratorLimits())
    assert health.valid
    assert health.concurrency_cap == 128
    assert health.concurrency_peak == 10
    assert 0.29 < health.schedule_lag_p99_ms < 0.31
    assert health.cpu_percent_p50 == 20.0
