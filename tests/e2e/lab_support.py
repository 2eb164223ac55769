"""The scenarios of the lab end-to-end tests: `run --lab` (test_lab_e2e.py) and `run --netpol`
(test_netpol_run_e2e.py), shared with their interrupt tests (test_lab_interrupt_e2e.py), which
judge no time and run in the parallel pass."""

from __future__ import annotations

import sys
from pathlib import Path

# 1,500 requests in the judged phase: enough for p99 (needs 1,000). The generator limits are
# loose on purpose: this test is about placement, and on a shared 2-core machine schedule lag
# reached 30-110 ms with and without --lab alike (load average 9), which would make it INVALID.
SCENARIO = """\
name: labgate
slo: slo.yaml
generator: {{max_cpu_percent: 100, max_lag_p99_ms: 500}}
mix:
  - {{endpoint: score, weight: 1}}
payload: {{seed: 7, cards: 500}}
phases:
  - {{name: warmup, kind: warmup, rate: 200, duration_s: 1}}
  - {{name: steady, kind: steady, rate: 400, duration_s: {steady_s}}}
"""
SLO = """\
name: labgate
objectives:
  - {metric: latency, percentile: p99, op: "<", threshold_ms: 50}
  - {metric: error_rate, op: "<", threshold: 0.001}
"""


def lab_setup(root: Path, steady_s: float) -> Path:
    """The `run --lab` scenario (``steady_s`` of judged load) and its SLO in ``root``."""
    (root / "slo.yaml").write_text(SLO)
    scenario = root / "labgate.yaml"
    scenario.write_text(SCENARIO.format(steady_s=steady_s))
    return scenario


def lab_cmd(scenario: Path, out: Path, *extra: str) -> list[str]:
    """`slo-harness run` of ``scenario`` into ``out`` in a fresh process."""
    cli = [sys.executable, "-m", "harness.cli", "run", str(scenario), "--no-progress"]
    return [*cli, "--out", str(out), *extra]


K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
# Loose generator limits: this test is about the boundary, and a shared 2-core machine lags.
NETPOL_SCENARIO = """\
name: pcigate
slo: slo.yaml
generator: {max_cpu_percent: 100, max_lag_p99_ms: 500}
mix:
  - {endpoint: score, weight: 1}
payload: {seed: 7, cards: 500}
phases:
  - {name: warmup, kind: warmup, rate: 100, duration_s: 1}
  - {name: steady, kind: steady, rate: 400, duration_s: 4}
"""
NETPOL_SLO = """\
name: pcigate
objectives:
  - {metric: latency, percentile: p99, op: "<", threshold_ms: 50}
  - {metric: error_rate, op: "<", threshold: 0.001}
"""
