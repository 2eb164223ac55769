"""Where the tail went: the stage breakdown of the median request versus the requests above p99.

``explain_tails(run)`` takes the requests the generator kept (:class:`harness.measure.TailSample`)
and the run's exact histograms, and per phase x endpoint answers "which stage makes p99 high?":

- **Bands.** The *median band* is the kept OK requests whose latency lies between p40 and p60 of
  the endpoint's histogram (widened to p25-p75, then to the 10 nearest the median, when too few
  were kept); the *tail band* is the kept OK requests at or above p99 (p95 when fewer than
  :data:`MIN_TAIL` were kept). Latencies are intended-clock, as everywhere in the verdict.
- **Stages of one request** add up to its latency: ``generator`` (intended -> actual send: the
  schedule's lateness or a wait for a free connection), then either the service's own
  ``Server-Timing`` stages plus ``outside`` (service time not covered by the server's ``total``:
  network, the server's accept queue and event-loop backlog, the client), or, when the server
  sends no timing, the client's view: ``connect``, ``send``, ``wait`` (first byte), ``receive``.
- **Means, so the bars add up.** A band's stage value is the mean over its requests; the mean
  latency difference between the bands is exactly the sum of the stage differences (up to a
  server's unstaged time, reported as ``unstaged``). Medians would not add up.
- **Naming the driver.** The stage with the largest difference is named only when it is more
  than noise: at least :data:`NOISE_FLOOR_MS` and :data:`NOISE_SHARE` of the tail's mean latency,
  and *elevated* (above the median band's mean by half its difference, and by the floor) in at
  least :data:`MIN_ELEVATED_SHARE` of the tail's requests. A random preemption that lands on one
  stage in one slow request moves a mean but not that share; a stalled fsync moves both. Without
  a named driver the tail's breakdown is *within noise* of the median's.

Fault windows (game days): the same breakdown compares the kept OK requests sent inside the
window (the kept set leans towards slow requests, which is what a fault makes) with the run's
median band, so a feature-store slowdown shows in ``features``, not in ``model``.

``harness.slo.tail_shift`` names the stage whose band mean moved most between two runs, for the
regression gate (:mod:`harness.slo.compare`) when it flags a metric.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from harness.measure import (
    FaultWindow,
    Outcome,
    PhaseResult,
    RunResult,
    TailSample,
    TracedRequest,
    distribution,
)

__all__ = [
    "CLIENT_STAGES",
    "MIN_ELEVATED_SHARE",
    "MIN_TAIL",
    "NOISE_FLOOR_MS",
    "NOISE_SHARE",
    "SLOWEST_N",
    "STAGE_LABELS",
    "Band",
    "StageDelta",
    "TailExplanation",
    "TimingSource",
    "band_of",
    "explain_tails",
    "explain_windows",
    "request_stages",
    "stage_label",
]

NOISE_FLOOR_MS: Final = 1.0
NOISE_SHARE: Final = 0.10
MIN_ELEVATED_SHARE: Final = 0.5
MIN_TAIL: Final = 3
MIN_MEDIAN: Final = 5
SLOWEST_N: Final = 20
CLIENT_STAGES: Final = ("connect", "send", "wait", "receive")
GENERATOR: Final = "generator"
OUTSIDE: Final = "outside"
UNSTAGED: Final = "unstaged"

#: Words for the stage names the reference service sends (others are shown as sent).
STAGE_LABELS: Final = {
    "queue": "admission queue",
    "decode": "body read and decode",
    "tokenise": "PAN tokenisation",
    "features": "feature lookup",
    "model": "model inference",
    "audit": "audit fsync wait",
    "encode": "response encode",
    "debug": "injected handler delay",
    UNSTAGED: "server time in no stage",
    GENERATOR: "generator wait (schedule or connection cap)",
    OUTSIDE: "time outside the server's stages (network, accept queue, client)",
    "connect": "TCP connect",
    "send": "request send",
    "wait": "waiting for the first response byte",
    "receive": "response receive",
}
_NON_SERVER: Final = frozenset({GENERATOR, OUTSIDE, *CLIENT_STAGES})


def stage_label(stage: str) -> str:
    """A stage in words ("audit" -> "audit fsync wait")."""
    return STAGE_LABELS.get(stage, stage)


class TimingSource(enum.Enum):
    """Where a lane's stage timings come from."""

    SERVER = "server"  # the service's Server-Timing header
    CLIENT = "client"  # no Server-Timing: the client's connect/send/wait/receive
    NONE = "none"  # nothing kept (no OK responses)


@dataclass(frozen=True, slots=True)
class Band:
    """Mean stage times (ms) of a group of requests; ``stages`` add up to ``latency_ms``."""

    label: str  # "p40-p60", "above p99", "in fault 'x'"
    count: int
    latency_ms: float
    stages: tuple[tuple[str, float], ...]
    degraded_share: float  # share of the band's requests with a degraded stage

    def stage_ms(self, stage: str) -> float:
        """This band's mean for ``stage`` (0 when none of its requests had it)."""
        return dict(self.stages).get(stage, 0.0)


@dataclass(frozen=True, slots=True)
class StageDelta:
    """One stage: median band vs tail band, and the share of tail requests where it is high."""

    stage: str
    median_ms: float
    tail_ms: float
    delta_ms: float
    elevated_share: float


@dataclass(frozen=True, slots=True)
class TailExplanation:
    """Why one phase x endpoint (or one fault window) has the tail it has."""

    phase: str
    endpoint: str
    source: TimingSource
    seen: int  # completed requests of the lane
    p50_ms: float | None
    p99_ms: float | None
    median: Band | None
    tail: Band | None
    deltas: tuple[StageDelta, ...]  # largest difference first
    driver: str | None  # the stage explaining the difference; None: within noise (or no data)
    slowest: tuple[TracedRequest, ...]  # the slowest kept requests, slowest first
    above_p99: tuple[TracedRequest, ...]  # a sample of the kept requests above p99
    window: str | None = None  # the fault window explained (None: the whole phase)
    #: The server stage that stands out, even when time outside the server (network, accept
    #: queue, generator) is the larger part of the difference; None: the server's stages are
    #: within noise of the median's (or the server sent no timing).
    server_driver: str | None = None
    #: The bands' members (kept requests with timings); a report stores them so that a run read
    #: back explains to the same bands.
    median_requests: tuple[TracedRequest, ...] = ()
    tail_requests: tuple[TracedRequest, ...] = ()

    @property
    def driver_delta_ms(self) -> float | None:
        """The driver's difference over the median (ms)."""
        for d in self.deltas:
            if d.stage == self.driver:
                return d.delta_ms
        return None

    @property
    def within_noise(self) -> bool:
        """True when stage timings exist and no stage stands out."""
        return self.source is not TimingSource.NONE and self.tail is not None and not self.driver

    @property
    def server_within_noise(self) -> bool:
        """True when the server sent timings and none of its own stages stands out."""
        return (
            self.source is TimingSource.SERVER
            and self.tail is not None
            and (self.server_driver is None)
        )

    def _delta(self, stage: str | None) -> float:
        return next((d.delta_ms for d in self.deltas if d.stage == stage), 0.0)

    def sentence(self) -> str:
        """One line for summary.md: "p99 driven by audit fsync wait: +41.2 ms over the median"."""
        what = f"fault '{self.window}'" if self.window else "p99"
        if self.tail is None or self.median is None:
            return f"{what}: too few requests kept to explain the tail"
        side = "" if self.source is TimingSource.SERVER else " (client side only: no Server-Timing)"
        degraded = ""
        if "features" in (self.driver, self.server_driver) and self.tail.degraded_share > 0:
            degraded = f"; {self.tail.degraded_share:.0%} of those decisions degraded"
        if self.driver is None:
            return (
                f"{what} ({self.tail.latency_ms:.1f} ms mean, {self.tail.label}) is within noise "
                f"of the median's breakdown: no stage stands out{side}"
            )
        line = (
            f"{what} driven by {stage_label(self.driver)}: +{self._delta(self.driver):.1f} ms "
            "over the median"
        )
        if self.server_driver is not None and self.server_driver != self.driver:
            inside = self.server_driver
            line += f"; inside the server: {stage_label(inside)} +{self._delta(inside):.1f} ms"
        elif self.source is TimingSource.SERVER and self.server_driver is None:
            line += "; the server's own stages are within noise"
        return f"{line}{degraded}{side}"


def request_stages(r: TracedRequest, source: TimingSource) -> dict[str, float] | None:
    """The stages of one request (ms, summing to its latency), or None without that source."""
    generator = max(r.latency_ms - r.service_ms, 0.0)
    if source is TimingSource.SERVER:
        timed = [(s.name, s.dur_ms) for s in r.stages if s.dur_ms is not None]
        if not timed:
            return None
        out = {GENERATOR: generator}
        total: float | None = None
        for name, dur in timed:
            if name == "total":
                total = dur
            elif name not in (GENERATOR, OUTSIDE, UNSTAGED):
                out[name] = dur
        staged = sum(v for k, v in out.items() if k != GENERATOR)
        if total is None:
            total = staged
        elif total > staged:
            out[UNSTAGED] = total - staged
        out[OUTSIDE] = max(r.service_ms - total, 0.0)
        return out
    if source is TimingSource.CLIENT and r.client is not None:
        c = r.client
        return {
            GENERATOR: generator,
            "connect": c.connect_ms,
            "send": c.send_ms,
            "wait": c.wait_ms,
            "receive": c.receive_ms,
        }
    return None


def band_of(label: str, requests: Sequence[TracedRequest], source: TimingSource) -> Band | None:
    """Mean stages of ``requests`` (those without timings of ``source`` are left out)."""
    return _band(label, requests, source)[0]


def _band(
    label: str, requests: Sequence[TracedRequest], source: TimingSource
) -> tuple[Band | None, tuple[TracedRequest, ...]]:
    rows = [(r, s) for r in requests if (s := request_stages(r, source)) is not None]
    if not rows:
        return None, ()
    order: dict[str, None] = {}
    for _, s in rows:
        order.update(dict.fromkeys(s))
    n = len(rows)
    stages = tuple((k, sum(s.get(k, 0.0) for _, s in rows) / n) for k in order)
    band = Band(
        label=label,
        count=n,
        latency_ms=sum(r.latency_ms for r, _ in rows) / n,
        stages=stages,
        degraded_share=sum(r.degraded for r, _ in rows) / n,
    )
    return band, tuple(r for r, _ in rows)


def _source(requests: Iterable[TracedRequest]) -> TimingSource:
    reqs = list(requests)
    if any(any(s.dur_ms is not None for s in r.stages) for r in reqs):
        return TimingSource.SERVER
    if any(r.client is not None for r in reqs):
        return TimingSource.CLIENT
    return TimingSource.NONE


def _deltas(
    median: Band, tail: Band, tail_requests: Sequence[TracedRequest], source: TimingSource
) -> tuple[StageDelta, ...]:
    names = dict.fromkeys([k for k, _ in median.stages] + [k for k, _ in tail.stages])
    rows = [s for r in tail_requests if (s := request_stages(r, source)) is not None]
    out = []
    for name in names:
        m, t = median.stage_ms(name), tail.stage_ms(name)
        delta = t - m
        bar = m + max(NOISE_FLOOR_MS, 0.5 * delta)
        high = sum(1 for s in rows if s.get(name, 0.0) >= bar)
        out.append(StageDelta(name, m, t, delta, high / len(rows) if rows else 0.0))
    return tuple(sorted(out, key=lambda d: (-d.delta_ms, d.stage)))


def _driver(deltas: Sequence[StageDelta], tail: Band) -> str | None:
    if not deltas:
        return None
    top = deltas[0]
    floor = max(NOISE_FLOOR_MS, NOISE_SHARE * tail.latency_ms)
    if top.delta_ms >= floor and top.elevated_share >= MIN_ELEVATED_SHARE:
        return top.stage
    return None


def _server_driver(deltas: Sequence[StageDelta], tail: Band, source: TimingSource) -> str | None:
    """The largest server stage difference that is more than noise, judged against the time
    the tail spent inside the server (so a crowded network or generator does not hide it)."""
    if source is not TimingSource.SERVER:
        return None
    inside = [d for d in deltas if d.stage not in _NON_SERVER]
    if not inside:
        return None
    top = inside[0]
    server_ms = sum(ms for k, ms in tail.stages if k not in _NON_SERVER)
    floor = max(NOISE_FLOOR_MS, NOISE_SHARE * server_ms)
    if top.delta_ms >= floor and top.elevated_share >= MIN_ELEVATED_SHARE:
        return top.stage
    return None


def _percentile_ms(phase: PhaseResult, endpoint: str, percentile: float) -> float | None:
    """None when the endpoint had no OK response (e.g. every answer a 401) or beyond range."""
    dist = distribution(phase.latency(endpoint=endpoint))
    if dist.total == 0:
        return None
    value = dist.percentile_us(percentile)
    return None if value is None else value / 1000.0


def _median_band(
    ok: Sequence[TracedRequest], phase: PhaseResult, endpoint: str, source: TimingSource
) -> tuple[Band | None, tuple[TracedRequest, ...]]:
    for low, high in ((40.0, 60.0), (25.0, 75.0)):
        lo, hi = _percentile_ms(phase, endpoint, low), _percentile_ms(phase, endpoint, high)
        if lo is None or hi is None:
            return None, ()
        # Histogram values are bucket upper edges: widen by the bucket resolution (0.1%).
        picked = [r for r in ok if lo * 0.999 <= r.latency_ms <= hi * 1.001]
        band, members = _band(f"p{low:g}-p{high:g}", picked, source)
        if band is not None and band.count >= MIN_MEDIAN:
            return band, members
    p50 = _percentile_ms(phase, endpoint, 50.0)
    if p50 is None:
        return None, ()
    timed = [r for r in ok if request_stages(r, source) is not None]
    nearest = sorted(timed, key=lambda r: (abs(r.latency_ms - p50), r.trace_id))[:10]
    return _band("nearest the median", nearest, source)


def _tail_requests(
    ok: Sequence[TracedRequest], phase: PhaseResult, endpoint: str
) -> tuple[str, list[TracedRequest]]:
    for percentile in (99.0, 95.0):
        edge = _percentile_ms(phase, endpoint, percentile)
        if edge is None:
            return "above p99", []
        # Histogram values are bucket upper edges (up to 0.1% above the true value).
        picked = [r for r in ok if r.latency_ms >= edge * 0.999]
        if len(picked) >= MIN_TAIL:
            return f"above p{percentile:g}", picked
    return "above p95", picked


def _explain(
    sample: TailSample, phase: PhaseResult, window: FaultWindow | None = None
) -> TailExplanation:
    endpoint = sample.endpoint
    ok = [r for r in sample.requests if r.outcome == Outcome.OK.value]
    source = _source(ok)
    median, median_members = _median_band(ok, phase, endpoint, source)
    if window is None:
        label, tail_reqs = _tail_requests(ok, phase, endpoint)
    else:
        label = f"in fault '{window.name}'"
        tail_reqs = [r for r in ok if window.start_s <= r.intended_s < window.end_s]
    tail, tail_members = _band(label, tail_reqs, source)
    deltas = _deltas(median, tail, tail_reqs, source) if median and tail else ()
    p99 = _percentile_ms(phase, endpoint, 99.0)
    slowest = sorted(sample.requests, key=lambda r: (-r.latency_ms, r.trace_id))[:SLOWEST_N]
    top_ids = {r.trace_id for r in slowest}
    above = [
        r for r in sample.requests if p99 is not None and r.latency_ms >= p99 * 0.999
    ]  # fmt: skip
    # A sample above p99 beyond the slowest: every k-th in time order, deterministic.
    rest = [r for r in above if r.trace_id not in top_ids]
    step = max(1, len(rest) // SLOWEST_N)
    return TailExplanation(
        phase=sample.phase,
        endpoint=endpoint,
        source=source,
        seen=sample.seen,
        p50_ms=_percentile_ms(phase, endpoint, 50.0),
        p99_ms=p99,
        median=median,
        tail=tail,
        deltas=deltas,
        driver=_driver(deltas, tail) if tail else None,
        server_driver=_server_driver(deltas, tail, source) if tail else None,
        slowest=tuple(slowest),
        above_p99=tuple(rest[::step][:SLOWEST_N]),
        window=None if window is None else window.name,
        median_requests=median_members,
        tail_requests=tuple(tail_reqs) if tail is not None else tail_members,
    )


def explain_tails(run: RunResult) -> tuple[TailExplanation, ...]:
    """One explanation per phase x endpoint with kept requests (phases in run order)."""
    phases = {p.name: p for p in run.phases}
    order = {p.name: i for i, p in enumerate(run.phases)}
    out = [
        _explain(sample, phases[sample.phase])
        for sample in run.tails
        if sample.phase in phases and sample.requests
    ]
    return tuple(sorted(out, key=lambda e: (order[e.phase], e.endpoint)))


def explain_windows(run: RunResult) -> tuple[TailExplanation, ...]:
    """Per fault window x endpoint: the requests sent during the fault vs the run's median band.

    The median band comes from the verdict phase with the most requests of that endpoint, so a
    window straddling a phase boundary is compared with one stable reference.
    """
    out: list[TailExplanation] = []
    phases = {p.name: p for p in run.phases}
    for window in run.fault_windows:
        by_endpoint: dict[str, list[TracedRequest]] = {}
        reference: dict[str, tuple[int, TailSample]] = {}
        for sample in run.tails:
            phase = phases.get(sample.phase)
            if phase is None:
                continue
            by_endpoint.setdefault(sample.endpoint, []).extend(sample.requests)
            best = reference.get(sample.endpoint)
            if phase.in_verdict and (best is None or sample.seen > best[0]):
                reference[sample.endpoint] = (sample.seen, sample)
        for endpoint, (_, ref) in sorted(reference.items()):
            merged = TailSample(ref.phase, endpoint, ref.seen, tuple(by_endpoint[endpoint]))
            explained = _explain(merged, phases[ref.phase], window)
            if explained.tail is not None:
                out.append(explained)
    return tuple(out)
