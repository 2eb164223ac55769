"""Fixtures of the SLO tests: RunResults are built from synthetic histograms (harness.testing).

Nothing here starts a process: evaluation and comparison are pure functions over RunResults, so
their tests fill LatencyHistograms directly with known values.
"""

from __future__ import annotations

import pytest

from harness.measure.result import RunResult
from harness.spec.slo import SloSpec, default_slo
from harness.testing import lognormal_us, phase
from harness.testing import run_result as run


@pytest.fixture(scope="session")
def default() -> SloSpec:
    """The embedded fintech default SLO (p99 < 50 ms, error rate < 0.1%)."""
    return default_slo()


@pytest.fixture(scope="session")
def healthy_run() -> RunResult:
    """A warm-up plus a 60 s steady phase of 12,000 OK responses, p99 about 35 ms, no errors."""
    return run(
        phase("warmup", ok=lognormal_us(2000, median_ms=60, seed=1), in_verdict=False),
        phase("steady", ok=lognormal_us(12_000, median_ms=15, sigma=0.3, seed=2)),
    )
