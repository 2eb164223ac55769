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

from harness.errors import ArtifactError
from harness.measure.histogram import LatencyHistogram
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

__all__ = ["ALL_ENDPOINTS", "log_meta", "result_from_log"]

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


def result_from_log(series: IntervalLog) -> RunResult:
    """The run a log describes; ArtifactError when its ``#[Run: ...]`` metadata is missing."""
    meta = series.meta
    if not meta or series.start_wall_s is None:
        raise ArtifactError(
            f"{series.path}: no #[Run: ...] or StartTime line: not an interval log slo-harness "
            "streamed during a run"
        )
    try:
        phases_meta = [_phase_meta(p) for p in meta["phases"]]
        scenario = meta["scenario"]
        target = meta["target"]
        ref = ScenarioRef(str(scenario["name"]), str(scenario["path"]), str(scenario["sha256"]))
        info = TargetInfo(
            url=str(target["url"]), started_by_harness=bool(target["started_by_harness"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{series.path}: #[Run: ...] lacks or mistypes {exc}") from None
    sums: dict[str, tuple[list[int], LatencyHistogram, LatencyHistogram]] = {}
    end_s = 0.0
    for rec in series:
        counts, latency, service = sums.setdefault(
            rec.phase, ([0] * 7, LatencyHistogram(), LatencyHistogram())
        )
        for i, value in enumerate(_fields(rec.counts)):
            counts[i] += value
        latency.add(rec.latency)
        service.add(rec.service)
        end_s = max(end_s, rec.start_s + rec.length_s)
    phases = tuple(_phase(m, sums.get(m["name"]), end_s) for m in phases_meta)
    started = datetime.fromtimestamp(series.start_wall_s, UTC)
    incomplete = not series.complete
    return RunResult(
        scenario=ref,
        target=info,
        started_at=started,
        ended_at=started + timedelta(seconds=end_s),
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
    m: dict[str, Any],
    sums: tuple[list[int], LatencyHistogram, LatencyHistogram] | None,
    end_s: float,
) -> PhaseResult:
    counts = RequestCounts(*sums[0]) if sums else RequestCounts()
    histograms = {}
    if sums is not None:
        latency, service = sums[1], sums[2]
        latency.out_of_range = counts.out_of_range
        histograms = {
            HistKey(ALL_ENDPOINTS, Outcome.OK, Clock.INTENDED): latency,
            HistKey(ALL_ENDPOINTS, Outcome.OK, Clock.SERVICE): service,
        }
    measured_s = min(m["duration_s"], max(0.0, end_s - m["start_s"]))
    completed = counts.ok + counts.failed + counts.shed
    return PhaseResult(
        name=m["name"],
        kind=m["kind"],
        in_verdict=m["in_verdict"],
        start_s=m["start_s"],
        duration_s=m["duration_s"],
        offered_rps=m["offered_rps"],
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
