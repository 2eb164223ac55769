"""Verdict values: what ``harness.slo`` decides and ``harness.report`` renders.

A breached objective is a value (``ObjectiveStatus.FAIL``), never an exception. A percentile that
needs more samples than the run has (p99.9 from 300 requests) is ``INSUFFICIENT``, which is not a
pass: it makes the verdict ``INVALID`` unless another objective already failed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "Comparison",
    "MetricComparison",
    "ObjectiveResult",
    "ObjectiveStatus",
    "RegressionRule",
    "Verdict",
    "VerdictStatus",
]


class ObjectiveStatus(enum.Enum):
    """Outcome of one objective."""

    PASS = "pass"
    FAIL = "fail"
    INSUFFICIENT = "insufficient"  # not enough samples to say; never counted as a pass


class VerdictStatus(enum.Enum):
    """Outcome of a whole run; maps to exit codes 0 / 1 / 3 in ``harness.cli``."""

    PASS = "pass"
    FAIL = "fail"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class ObjectiveResult:
    """One objective evaluated on one phase (and endpoint, when scoped)."""

    name: str  # e.g. "p99 latency < 50 ms"
    phase: str
    endpoint: str | None  # None = all endpoints of the phase
    metric: str  # e.g. "latency_p99", "error_rate", "burn_rate_5m"
    op: str  # "<", "<=", ">", ">="
    threshold: float
    unit: str  # "ms", "ratio", "x"
    observed: float | None  # None when insufficient
    status: ObjectiveStatus
    reason: str  # one sentence: why it passed, failed or could not be judged
    samples: int | None = None  # requests/responses behind ``observed`` (None: not applicable)

    @property
    def passed(self) -> bool | None:
        """True/False, or None when there were too few samples to judge."""
        if self.status is ObjectiveStatus.INSUFFICIENT:
            return None
        return self.status is ObjectiveStatus.PASS


@dataclass(frozen=True, slots=True)
class Verdict:
    """The run's verdict with every objective's result."""

    status: VerdictStatus
    objectives: tuple[ObjectiveResult, ...]
    reasons: tuple[str, ...] = ()  # why INVALID / which objectives failed, human sentences


class RegressionRule(enum.Enum):
    """Which statistical rule flagged (or cleared) a metric in a baseline comparison."""

    NONE = "none"
    PERCENTILE_CI = "percentile_ci"  # bootstrap CI of the ratio lies wholly above 1 + tolerance
    SHIFT_TEST = "shift_test"  # Mann-Whitney says slower AND median shift > tolerance
    INSUFFICIENT = "insufficient"


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """Baseline vs candidate for one metric of one phase/endpoint."""

    phase: str
    endpoint: str | None
    metric: str  # "p99", "p99_9", "distribution"
    base_ms: float
    new_ms: float
    ratio: float  # new / base
    ci_low: float | None  # bootstrap CI of the ratio (None for the shift test)
    ci_high: float | None
    p_value: float | None
    regressed: bool
    rule: RegressionRule
    reason: str
    base_samples: int | None = None  # OK responses behind base_ms / new_ms
    new_samples: int | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    """A whole baseline comparison; ``regressed`` is True when any metric regressed."""

    base_label: str
    new_label: str
    tolerance: float  # relative, e.g. 0.10
    alpha: float  # significance level
    metrics: tuple[MetricComparison, ...]
    notes: tuple[str, ...] = ()  # sentences: phases/endpoints present in only one run, etc.

    @property
    def regressed(self) -> bool:
        """True when at least one metric was flagged."""
        return any(m.regressed for m in self.metrics)
