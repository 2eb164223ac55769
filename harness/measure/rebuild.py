"""A :class:`RunResult` rebuilt from an interval log alone (a run that was interrupted or died).

The log (:mod:`harness.measure.intervallog`) holds what the run measured up to its last complete
interval: per phase and interval the counts and the OK responses' histograms on both clocks, and
the run's metadata (``#[Run: ...]``: scenario, phases, target). What it does not hold is made
explicit rather than invented:

- per-endpoint histograms and failed/shed latencies: the rebuilt phases have one endpoint,
  :data:`ALL_ENDPOINTS`, holding every endpoint's OK responses;
- the generator's self-check (CPU, schedule lag): unknown, so the generator is marked invalid with
  the reason, and the verdict of a rebuilt run is INVALID (never a pass);
- a phase the run never reached has no samples; a phase cut short gets its achieved rate over the
  part that was measured.

``RunResult.incomplete`` is True unless the log ends with ``#[End]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from harness.errors import ArtifactError
from harness.measure.intervallog import IntervalLog
from harness.measure.phase import PhaseMeta
from harness.measure.result import (
    Clock,
    GeneratorHealth,
    HistKey,
    Outcome,
    PhaseKind,
    PhaseResult,
    RequestCounts,
    RunResult,
    ScenarioRef,
    TargetInfo,
)
from harness.measure.scan import (
    COUNTERS_LEN,
    IntervalConsumer,
    IntervalView,
    histogram_from_counters,
    scan_series,
)

__all__ = ["ALL_ENDPOINTS", "PhaseTotals", "log_meta", "log_phases", "result_from_log"]

IntArray = npt.NDArray[np.int64]

#: The one endpoint name of a rebuilt phase (the log keeps phases, not endpoints).
ALL_ENDPOINTS: Final = "all-endpoints"


def log_meta(
    ref: ScenarioRef,
    target: TargetInfo,
    phases: Sequence[PhaseMeta | PhaseResult],
    interval_s: float,
) -> dict[str, Any]:
    """The ``#[Run: ...]`` metadata of a log: what :func:`result_from_log` needs (the target URL
    without user info)."""
    url = urlsplit(target.url)
    return {
        "scenario": {"name": ref.name, "path": ref.path, "sha256": ref.sha256},
        "target": {
            "url": urlunsplit((url.scheme, url.netloc.rpartition("@")[2], url.path, "", "")),
            "started_by_harness": target.started_by_harness,
        },
        "interval_s": interval_s,
        "phases": [
            {
                "name": m.name,
                "kind": m.kind.value,
                "in_verdict": m.in_verdict,
                "start_s": m.start_s,
                "duration_s": m.duration_s,
                "offered_rps": m.offered_rps,
            }
            for m in phases
        ],
    }


def log_phases(series: IntervalLog) -> tuple[PhaseMeta, ...]:
    """The phases a log's ``#[Run: ...]`` names (known before its series is read)."""
    if not series.meta or series.start_wall_s is None:
        raise ArtifactError(
            f"{series.path}: no #[Run: ...] or StartTime line: not an interval log slo-harness "
            "streamed during a run"
        )
    try:
        return tuple(PhaseMeta(**_phase_meta(p)) for p in series.meta["phases"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{series.path}: #[Run: ...] lacks or mistypes {exc}") from None


class PhaseTotals:
    """An :class:`IntervalConsumer` that adds a log's records up per phase: counts, both clocks'
    counters (one full-length array each per phase) and the end of the last interval."""

    def __init__(self) -> None:
        self.sums: dict[str, tuple[list[int], IntArray, IntArray]] = {}
        self.end_s = 0.0

    def feed(self, view: IntervalView) -> None:
        """Add one record."""
        sums = self.sums.get(view.phase)
        if sums is None:
            zeros = np.zeros(COUNTERS_LEN, np.int64)
            sums = self.sums[view.phase] = ([0] * 7, zeros, zeros.copy())
        counts, latency, service = sums
        for i, value in enumerate(_fields(view.counts)):
            counts[i] += value
        view.latency.add_to(latency)
        if view.service is not None:
            view.service.add_to(service)
        self.end_s = max(self.end_s, view.start_s + view.length_s)


def result_from_log(series: IntervalLog, consumers: Sequence[IntervalConsumer] = ()) -> RunResult:
    """The run a log describes; ArtifactError when its ``#[Run: ...]`` metadata is missing.

    The log is read once (:func:`harness.measure.scan_series`); ``consumers`` are fed in the same
    pass (a report's series, the SLO's windows), so nothing decodes a payload twice."""
    phases_meta = log_phases(series)
    meta = series.meta
    try:
        scenario = meta["scenario"]
        target = meta["target"]
        ref = ScenarioRef(str(scenario["name"]), str(scenario["path"]), str(scenario["sha256"]))
        info = TargetInfo(
            url=str(target["url"]), started_by_harness=bool(target["started_by_harness"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{series.path}: #[Run: ...] lacks or mistypes {exc}") from None
    totals = PhaseTotals()
    scan_series(series, [totals, *consumers], service=True)
    phases = tuple(_phase(m, totals.sums.get(m.name), totals.end_s) for m in phases_meta)
    assert series.start_wall_s is not None  # log_phases checked it
    started = datetime.fromtimestamp(series.start_wall_s, UTC)
    incomplete = not series.complete
    return RunResult(
        scenario=ref,
        target=info,
        started_at=started,
        ended_at=started + timedelta(seconds=totals.end_s),
        phases=phases,
        intervals=series,
        generator=_unknown_generator(incomplete),
        incomplete=incomplete,
    )


def _phase_meta(raw: Any) -> dict[str, Any]:
    return {
        "name": str(raw["name"]),
        "kind": PhaseKind(raw["kind"]),
        "in_verdict": bool(raw["in_verdict"]),
        "start_s": float(raw["start_s"]),
        "duration_s": float(raw["duration_s"]),
        "offered_rps": float(raw["offered_rps"]),
    }


def _fields(c: RequestCounts) -> tuple[int, ...]:
    return (c.sent, c.ok, c.failed, c.shed, c.late, c.unsent, c.out_of_range)


def _phase(
    m: PhaseMeta,
    sums: tuple[list[int], IntArray, IntArray] | None,
    end_s: float,
) -> PhaseResult:
    counts = RequestCounts(*sums[0]) if sums else RequestCounts()
    histograms = {}
    if sums is not None:
        histograms = {
            HistKey(ALL_ENDPOINTS, Outcome.OK, Clock.INTENDED): histogram_from_counters(
                sums[1], counts.out_of_range
            ),
            HistKey(ALL_ENDPOINTS, Outcome.OK, Clock.SERVICE): histogram_from_counters(sums[2]),
        }
    measured_s = min(m.duration_s, max(0.0, end_s - m.start_s))
    completed = counts.ok + counts.failed + counts.shed
    return PhaseResult(
        name=m.name,
        kind=m.kind,
        in_verdict=m.in_verdict,
        start_s=m.start_s,
        duration_s=m.duration_s,
        offered_rps=m.offered_rps,
        achieved_rps=completed / measured_s if measured_s > 0 else 0.0,
        counts=counts,
        histograms=histograms,
    )


def _unknown_generator(incomplete: bool) -> GeneratorHealth:
    why = "the run was interrupted: " if incomplete else ""
    return GeneratorHealth(
        cpu_percent_p50=0.0,
        cpu_percent_max=0.0,
        schedule_lag_p99_ms=0.0,
        schedule_lag_max_ms=0.0,
        concurrency_cap=0,
        concurrency_peak=0,
        cap_hits=0,
        valid=False,
        reasons=(
            f"rebuilt from the interval log ({why}measured up to its last complete interval); "
            "the generator's self-check was not recorded, so nothing here can pass",
        ),
    )
