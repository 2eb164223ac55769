"""Verdict values: what ``harness.slo`` decides and ``harness.report`` renders.

A breached objective is a value (``ObjectiveStatus.FAIL``), never an exception. A percentile that
needs more samples than the run has (p99.9 from 300 requests) is ``INSUFFICIENT``, which is not a
pass: it makes the verdict ``INVALID`` unless another objective already failed.

A :class:`Knee` (the capacity a ramp or step phase found, see :mod:`harness.slo.knee`) is
information next to the verdict; it never changes the verdict's status.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "Comparison",
    "Knee",
    "KneeStatus",
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


class KneeStatus(enum.Enum):
    """What a ramp or step phase showed about its knee."""

    FOUND = "found"  # breached within the tested range; the knee is the last rate before it
    NOT_REACHED = "not_reached"  # never breached: the knee lies above the highest rate tested
    FROM_START = "from_start"  # breached from the first window: the knee lies below the range
    INSUFFICIENT = "insufficient"  # too few completed requests for one percentile window


@dataclass(frozen=True, slots=True)
class Knee:
    """The highest offered rate at which a ramp/step phase kept a latency percentile under the
    SLO threshold (requests per second; offsets in seconds from the run's start).

    ``knee_rps`` is None when the phase breached from its start or had too few samples;
    ``breached`` is False when the knee was not reached (it lies above ``max_offered_rps``).
    """

    phase: str
    threshold_ms: float
    percentile: float  # 0..100, e.g. 99.0
    knee_rps: float | None
    max_offered_rps: float  # highest per-interval offered rate of the phase
    breached: bool
    first_breach_s: float | None  # start of the first confirmed breaching window
    reason: str  # one sentence a capacity planner can read
    status: KneeStatus


@dataclass(frozen=True, slots=True)
class Verdict:
    """The run's verdict with every objective's result and, for ramp/step phases, the knee."""

    status: VerdictStatus
    objectives: tuple[ObjectiveResult, ...]
    reasons: tuple[str, ...] = ()  # why INVALID / which objectives failed, human sentences
    capacity: tuple[Knee, ...] = ()  # information only: never changes ``status``


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
    #: When flagged and both runs carry Server-Timing: the stage whose mean (above p99 for the
    #: percentiles, around the median for the distribution) grew most, and by how much (ms).
    stage: str | None = None
    stage_delta_ms: float | None = None


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
