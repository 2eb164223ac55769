"""SLO judgement: objective evaluation, burn rates and baseline statistics (pure functions).

A breach is a result value (:class:`Verdict`, :class:`Comparison`), never an exception; nothing
here does I/O or imports Locust.
"""

from harness.slo.burn import BurnPeak, EventSeries, peak_multiwindow_burn
from harness.slo.compare import compare
from harness.slo.evaluate import evaluate
from harness.slo.knee import CONFIRM_WINDOWS, MAX_ERROR_RATIO, find_knee
from harness.slo.series import SloSeries
from harness.slo.tail import (
    Band,
    StageDelta,
    TailExplanation,
    TimingSource,
    explain_tails,
    explain_windows,
    stage_label,
)
from harness.slo.tail_shift import stage_shift
from harness.slo.verdict import (
    Comparison,
    Knee,
    KneeStatus,
    MetricComparison,
    ObjectiveResult,
    ObjectiveStatus,
    RegressionRule,
    Verdict,
    VerdictStatus,
)

__all__ = [
    "CONFIRM_WINDOWS",
    "MAX_ERROR_RATIO",
    "Band",
    "BurnPeak",
    "Comparison",
    "EventSeries",
    "Knee",
    "KneeStatus",
    "MetricComparison",
    "ObjectiveResult",
    "ObjectiveStatus",
    "RegressionRule",
    "SloSeries",
    "StageDelta",
    "TailExplanation",
    "TimingSource",
    "Verdict",
    "VerdictStatus",
    "compare",
    "evaluate",
    "explain_tails",
    "explain_windows",
    "find_knee",
    "peak_multiwindow_burn",
    "stage_label",
    "stage_shift",
]
