"""The report's plots as inline SVG strings (matplotlib, object API, no pyplot global state).

Why SVG from matplotlib: the HTML report must open offline with no external assets and no
JavaScript; matplotlib's SVG backend gives vector plots that are plain markup. Text is drawn as
paths (``svg.fonttype = path``) so the plots look the same without the fonts installed, and the
hash salt is fixed so ids are stable. Each SVG is post-processed for inlining: the XML prolog and
namespace declarations are dropped (the HTML parser supplies them), ids are prefixed per figure so
several plots can share one page, and fixed point sizes give way to a responsive width.

Time axes are seconds from the run start; latencies are milliseconds from the intended send time
of OK responses. A percentile beyond the histogram's 60 s range is drawn at the 60 s ceiling (a
lower bound, so a stall stays visible); an interval without OK responses leaves a gap.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, ParamSpec

import numpy as np
import numpy.typing as npt

from harness.measure import (
    HIGHEST_US,
    Clock,
    Distribution,
    FaultWindow,
    RunResult,
    distribution,
)
from harness.slo import Knee, ObjectiveResult

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn: ~0.7 s a CLI error never pays
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "SecondSeries",
    "TrendPoint",
    "errors_svg",
    "latency_over_time_svg",
    "percentile_distribution_svg",
    "throughput_svg",
    "trend_svg",
]

# Any keys: matplotlib types rc keys as a Literal union, which a plain str dict does not match.
_RC: Final[dict[Any, Any]] = {
    "svg.fonttype": "path",
    "svg.hashsalt": "slo-harness",
    "font.size": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_SIZE: Final = (10.0, 3.4)
P = ParamSpec("P")
_CEILING_MS: Final = HIGHEST_US / 1000.0
_FAULT_COLOUR: Final = "#f4a261"
_NO_METADATA: Final = {"Creator": None, "Date": None, "Format": None, "Type": None}
_PROLOG: Final = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_XMLNS: Final = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_STYLE: Final = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)
_SIZE_ATTRS: Final = re.compile(r'(<svg\b[^>]*?)\s+width="[^"]*"\s+height="[^"]*"')


# -- data --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SecondSeries:
    """The interval series merged across phases per start time, as arrays for plotting (built in
    the series' one pass, min/max-downsampled to the plot width: :mod:`harness.report.series`)."""

    start_s: npt.NDArray[np.float64]
    p50_ms: npt.NDArray[np.float64]
    p99_ms: npt.NDArray[np.float64]
    offered_rps: npt.NDArray[np.float64]
    achieved_rps: npt.NDArray[np.float64]
    failed_rps: npt.NDArray[np.float64]
    shed_rps: npt.NDArray[np.float64]
    late_rps: npt.NDArray[np.float64]


# -- SVG plumbing ------------------------------------------------------------------------------
def _svg(fig: Figure, prefix: str, title: str) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata=_NO_METADATA)
    return inline_svg(buf.getvalue(), prefix, title)


def inline_svg(svg: str, prefix: str, title: str) -> str:
    """Make a standalone matplotlib SVG fit for inlining into HTML (see module docstring)."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = _XMLNS.sub("", svg)
    svg = _STYLE.sub("", svg)
    svg = _SIZE_ATTRS.sub(r'\1 class="plot" role="img"', svg, count=1)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", svg)
    escaped = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return svg.replace(">", f"><title>{escaped}</title>", 1).strip()


def _styled(func: Callable[P, str]) -> Callable[P, str]:
    """Run a plot function under the report's rcParams (read when artists are created)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> str:
        import matplotlib  # lazy: see the TYPE_CHECKING import

        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def _figure() -> tuple[Figure, Axes]:
    from matplotlib.figure import Figure  # lazy (see the TYPE_CHECKING import)

    fig = Figure(figsize=_SIZE, layout="constrained")
    return fig, fig.add_subplot()


def _shade_faults(ax: Axes, windows: Iterable[FaultWindow]) -> None:
    seen: set[str] = set()
    for w in windows:
        label = None if w.name in seen else f"fault: {w.name}"
        seen.add(w.name)
        ax.axvspan(w.start_s, w.end_s, color=_FAULT_COLOUR, alpha=0.25, lw=0, label=label)


def _phase_marks(ax: Axes, result: RunResult) -> None:
    for phase in result.phases[1:]:
        ax.axvline(phase.start_s, color="#888888", lw=0.8, ls=":")
    for phase in result.phases:
        ax.annotate(
            phase.name,
            (phase.start_s, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            fontsize=8,
            color="#555555",
        )


def _finish(ax: Axes, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _latency_thresholds(objectives: Iterable[ObjectiveResult]) -> list[tuple[str, float]]:
    """(label, ms) of every distinct latency objective threshold."""
    seen: dict[tuple[str, float], None] = {}
    for o in objectives:
        if o.metric.startswith("latency_") and o.unit == "ms":
            stat = o.metric.removeprefix("latency_").replace("_", ".")
            seen[(f"SLO {stat} {o.op} {o.threshold:g} ms", o.threshold)] = None
    return list(seen)


# -- plots -------------------------------------------------------------------------------------
@_styled
def latency_over_time_svg(
    result: RunResult,
    series: SecondSeries,
    objectives: Sequence[ObjectiveResult],
    knees: Sequence[Knee] = (),
) -> str:
    """p50 and p99 per second with the SLO lines, fault windows shaded, phases marked and a
    vertical line where each ramp's confirmed breach began (its knee)."""
    fig, ax = _figure()
    _shade_faults(ax, result.fault_windows)
    ax.plot(series.start_s, series.p50_ms, lw=1.2, color="#2a9d8f", label="p50 per second")
    ax.plot(series.start_s, series.p99_ms, lw=1.2, color="#e76f51", label="p99 per second")
    for i, (label, ms) in enumerate(_latency_thresholds(objectives)):
        ax.axhline(ms, color="#c0392b", lw=1.0, ls=("--", "-.", ":")[i % 3], label=label)
    for knee in knees:
        if knee.first_breach_s is not None:
            rate = "none" if knee.knee_rps is None else f"{knee.knee_rps:,.0f}/s"
            label = f"knee of {knee.phase}: {rate}, breach from {knee.first_breach_s:g} s"
            ax.axvline(knee.first_breach_s, color="#6a3d9a", lw=1.4, label=label)
    values = np.concatenate([series.p50_ms, series.p99_ms])
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    _slow_marks(ax, result)
    _phase_marks(ax, result)
    _finish(ax, "seconds since run start", "latency (ms)")
    return _svg(fig, "lat", "Latency over time: p50 and p99 per second with SLO thresholds")


def _slow_marks(ax: Axes, result: RunResult, per_lane: int = 20) -> None:
    """The slowest kept requests of every phase x endpoint, at their intended send time."""
    slow = [
        r
        for sample in result.tails
        for r in sorted(sample.requests, key=lambda r: -r.latency_ms)[:per_lane]
    ]
    if slow:
        x = [r.intended_s for r in slow]
        y = [r.latency_ms for r in slow]
        ax.scatter(x, y, marker="x", s=14, lw=0.9, color="#6a3d9a", label="slowest requests")


def _nines_curve(dist: Distribution) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(1/(1-p), value ms) at percentiles spread evenly on the nines axis, up to 1 - 1/n."""
    n = dist.total
    top = math.log10(n) if n > 1 else 0.0
    nines = np.linspace(0.0, top, 400)
    fraction = 1.0 - 10.0**-nines  # 0 .. 1 - 1/n
    # Nearest rank (rounded up), the rule of every quoted percentile; the epsilon keeps a float
    # product just above an integer (0.99 * 100) from moving up a rank.
    ranks = np.maximum(1, np.ceil(fraction * n - 1e-9).astype(np.int64))
    cumulative = np.cumsum(dist.counts)
    index = np.searchsorted(cumulative, ranks, side="left")
    values = np.where(
        index < len(dist.values_us),
        dist.values_us[np.minimum(index, len(dist.values_us) - 1)],
        HIGHEST_US,
    )
    return 10.0**nines, values.astype(np.float64) / 1000.0


def _nines_label(x: float, _pos: float) -> str:
    if x <= 1.0:
        return "0%"
    percent = 100.0 * (1.0 - 1.0 / x)
    return f"{percent:.10g}%"


@_styled
def percentile_distribution_svg(result: RunResult, objectives: Sequence[ObjectiveResult]) -> str:
    """Latency by percentile on a log "nines" axis, as the HdrHistogram plotter draws it."""
    fig, ax = _figure()
    colours = ("#264653", "#e76f51", "#2a9d8f", "#8e44ad", "#e9c46a", "#3498db")
    top = 10.0
    for i, phase in enumerate(p for p in result.phases if p.in_verdict):
        colour = colours[i % len(colours)]
        for clock, style in ((Clock.INTENDED, "-"), (Clock.SERVICE, "--")):
            dist = distribution(phase.latency(clock=clock))
            if dist.total == 0:
                continue
            x, y = _nines_curve(dist)
            top = max(top, float(x[-1]))
            what = "latency" if clock is Clock.INTENDED else "service time"
            ax.plot(x, y, ls=style, lw=1.3, color=colour, label=f"{phase.name}: {what}")
    for i, (label, ms) in enumerate(_latency_thresholds(objectives)):
        ax.axhline(ms, color="#c0392b", lw=1.0, ls=("--", "-.", ":")[i % 3], label=label)
    ax.set_xscale("log")
    decades = max(1, math.ceil(math.log10(top)))
    ax.set_xlim(1.0, 10.0**decades)
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator  # lazy

    ax.xaxis.set_major_locator(FixedLocator([10.0**k for k in range(decades + 1)]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_nines_label))
    ax.set_ylim(bottom=0)
    _finish(ax, "percentile", "latency (ms)")
    return _svg(fig, "pct", "Latency by percentile (log nines axis), verdict phases")


@_styled
def errors_svg(result: RunResult, series: SecondSeries) -> str:
    """Failed, shed and late requests per second."""
    fig, ax = _figure()
    _shade_faults(ax, result.fault_windows)
    ax.step(series.start_s, series.failed_rps, where="post", color="#c0392b", label="failed/s")
    ax.step(series.start_s, series.shed_rps, where="post", color="#e9c46a", label="shed/s")
    ax.step(series.start_s, series.late_rps, where="post", color="#8e44ad", label="late/s")
    ax.set_ylim(bottom=0)
    _phase_marks(ax, result)
    _finish(ax, "seconds since run start", "requests per second")
    return _svg(fig, "err", "Failed, shed and late requests per second")


@_styled
def throughput_svg(result: RunResult, series: SecondSeries) -> str:
    """Offered (intended) against achieved (completed) requests per second."""
    fig, ax = _figure()
    _shade_faults(ax, result.fault_windows)
    ax.step(
        series.start_s,
        series.offered_rps,
        where="post",
        color="#264653",
        lw=2.2,
        ls="--",
        label="offered/s",
    )
    ax.step(series.start_s, series.achieved_rps, where="post", color="#2a9d8f", label="achieved/s")
    ax.set_ylim(bottom=0)
    _phase_marks(ax, result)
    _finish(ax, "seconds since run start", "requests per second")
    return _svg(fig, "thr", "Offered and achieved throughput per second")


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One run on the index page's trend plot."""

    started_at: datetime
    scenario: str
    p99_ms: float
    passed: bool


def _utc64(times: Sequence[datetime]) -> npt.NDArray[np.datetime64]:
    """Aware datetimes as naive UTC datetime64 (matplotlib's date axis is UTC by default)."""
    naive = [t.astimezone(UTC).replace(tzinfo=None) for t in times]
    return np.array(naive, dtype="datetime64[ms]")


@_styled
def trend_svg(points: Sequence[TrendPoint]) -> str:
    """p99 of each run's main phase over time, one line per scenario, failures marked."""
    fig, ax = _figure()
    for scenario in sorted({p.scenario for p in points}):
        own = sorted((p for p in points if p.scenario == scenario), key=lambda p: p.started_at)
        xs = _utc64([p.started_at for p in own])
        ax.plot(xs, [p.p99_ms for p in own], marker="o", ms=4, lw=1.2, label=scenario)
        bad = [p for p in own if not p.passed]
        if bad:
            ax.scatter(
                _utc64([p.started_at for p in bad]),
                [p.p99_ms for p in bad],
                marker="x",
                s=50,
                color="#c0392b",
                zorder=3,
            )
    if any(not p.passed for p in points):
        ax.scatter([], [], marker="x", color="#c0392b", label="verdict not PASS")
    ax.set_ylim(0, max(p.p99_ms for p in points) * 1.12 or 1.0)
    fig.autofmt_xdate()
    _finish(ax, "run start (UTC)", "p99 latency of main phase (ms)")
    return _svg(fig, "trend", "p99 latency trend across runs")
