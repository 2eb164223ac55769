"""Helpers for testing against slo-harness: known inputs whose right answers are known.

- RunResult builders (:func:`phase`, :func:`intervals`, :func:`run_result`, :func:`hist`,
  :func:`lognormal_us`): histograms filled with exactly the latencies given, so an SLO file, a
  verdict or a report can be checked without load;
- :func:`latency_target`: a loopback HTTP target whose latency distribution is known by
  construction (98% at 2 ms, 2% at 40 ms by default; an optional stall), started as a subprocess
  and always stopped, to check a generator's numbers against the truth;
- :func:`traced_run`: a run whose tail has a known cause (one stage slowed in a share of its
  requests), its requests kept by the generator's real sampler;
- :func:`wait_until`: poll observable state with a bound, instead of sleeping a guessed time;
- :func:`make_test_pki`: a throwaway CA with server and client certificates (TLS/mTLS tests, the
  mTLS example); the latency target serves TLS with them (``--tls-cert``, ``--tls-client-ca``).

Used by the project's own tests and benchmarks; nothing in the harness imports it (it sits on the
top floor of the import contract) and it needs no test framework.
"""

from harness.testing.certs import Pki, make_test_pki
from harness.testing.latency_target import launched as latency_target
from harness.testing.latency_target import ready_process
from harness.testing.runs import (
    START,
    generator_health,
    hist,
    intervals,
    lognormal_us,
    nearest_rank,
    phase,
    run_result,
)
from harness.testing.tails import traced_run
from harness.testing.waiting import wait_until

__all__ = [
    "START",
    "Pki",
    "generator_health",
    "hist",
    "intervals",
    "latency_target",
    "lognormal_us",
    "make_test_pki",
    "nearest_rank",
    "phase",
    "ready_process",
    "run_result",
    "traced_run",
    "wait_until",
]
