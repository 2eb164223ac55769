"""The "where the tail went" section of every report: report.json ``tail``, summary.md, report.html.

The explanation itself is ``harness.slo.explain_tails`` (pure; this module only lays it out).
report.json (since schema 1.5) carries, under ``tail``:

- ``lanes``: per phase x endpoint, how many requests completed and how many were kept;
- ``explanations`` (and ``fault_windows`` in game days): the median band and the tail band with
  their mean stage times, the per-stage differences, the named driver (or null: within noise),
  the one-line sentence, and the trace ids of the slowest requests and of a sample above p99;
- ``requests``: every request those refer to (trace id, intended and actual send offsets,
  latency, service time, the server's stages, the client's marks). A run read back
  (``harness.report.read_report``) gets exactly these as its kept requests, so explaining it
  again gives the same bands (the bands' members were picked by the same histogram edges), and a
  baseline comparison can name the stage that moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Final

import msgspec
from markupsafe import Markup

from harness.measure import ClientMarks, RunResult, ServerStage, TailSample, TracedRequest
from harness.report.plots import _figure, _styled, _svg
from harness.report.view import Cell, Plot, Table
from harness.slo import (
    Band,
    TailExplanation,
    explain_tails,
    explain_windows,
    stage_label,
)

__all__ = [
    "TailSectionDoc",
    "tail_doc",
    "tail_html",
    "tail_plot",
    "tail_summary_lines",
    "tails_from_doc",
]

_ROUND: Final = 3


class _Doc(msgspec.Struct, frozen=True, kw_only=True):
    """Base of the tail section's structs."""


class StageDoc(_Doc, frozen=True, kw_only=True):
    """One Server-Timing metric of a response (``dur_ms`` null when the server sent none)."""

    name: str
    dur_ms: float | None
    desc: str = ""


class ClientMarksDoc(_Doc, frozen=True, kw_only=True):
    """The client's view of an exchange, milliseconds (connect is 0 on a reused connection)."""

    connect_ms: float
    send_ms: float
    wait_ms: float
    receive_ms: float


class TracedRequestDoc(_Doc, frozen=True, kw_only=True):
    """One kept request; open ``trace_id`` in a tracing backend if the service propagates it."""

    phase: str
    endpoint: str
    outcome: str
    trace_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
    intended_s: Annotated[float, msgspec.Meta(description="intended send, s after run start")]
    sent_s: Annotated[float, msgspec.Meta(description="actual send, s after run start")]
    latency_ms: Annotated[float, msgspec.Meta(description="from the intended send time")]
    service_ms: Annotated[float, msgspec.Meta(description="from the actual send")]
    degraded: bool
    server_timing: list[StageDoc]
    client: ClientMarksDoc | None


class BandDoc(_Doc, frozen=True, kw_only=True):
    """Mean stage times (ms) of a group of requests; the stages add up to latency_ms."""

    label: str
    count: int
    latency_ms: float
    degraded_share: float
    stages: dict[str, float]


class StageDeltaDoc(_Doc, frozen=True, kw_only=True):
    """One stage: median band mean, tail band mean, their difference (ms), and the share of the
    tail's requests in which the stage is elevated."""

    stage: str
    label: str
    median_ms: float
    tail_ms: float
    delta_ms: float
    elevated_share: float


class ExplanationDoc(_Doc, frozen=True, kw_only=True):
    """Where the tail of one phase x endpoint (or one fault window) went."""

    phase: str
    endpoint: str
    window: str | None
    source: Annotated[str, msgspec.Meta(description="server (Server-Timing), client or none")]
    p50_ms: float | None
    p99_ms: float | None
    median: BandDoc | None
    tail: BandDoc | None
    deltas: list[StageDeltaDoc]
    driver: Annotated[str | None, msgspec.Meta(description="null: within noise / no data")]
    driver_delta_ms: float | None
    server_driver: Annotated[
        str | None,
        msgspec.Meta(description="the server stage standing out; null: server within noise"),
    ]
    sentence: str
    slowest: Annotated[list[str], msgspec.Meta(description="trace ids, slowest first")]
    above_p99: Annotated[list[str], msgspec.Meta(description="trace ids, a sample above p99")]


class LaneDoc(_Doc, frozen=True, kw_only=True):
    """Requests of one phase x endpoint: completed (seen) and kept by the generator."""

    phase: str
    endpoint: str
    seen: int
    kept: int


class TailSectionDoc(_Doc, frozen=True, kw_only=True):
    """Where the slowest requests spent their time (since schema 1.5)."""

    lanes: list[LaneDoc]
    explanations: list[ExplanationDoc]
    fault_windows: list[ExplanationDoc]
    requests: list[TracedRequestDoc]


# -- report.json ---------------------------------------------------------------------------------
def _r(value: float | None) -> float | None:
    return None if value is None else round(value, _ROUND)


def _band(b: Band | None) -> BandDoc | None:
    if b is None:
        return None
    return BandDoc(
        label=b.label,
        count=b.count,
        latency_ms=round(b.latency_ms, _ROUND),
        degraded_share=round(b.degraded_share, 4),
        stages={k: round(v, _ROUND) for k, v in b.stages},
    )


def _explanation(e: TailExplanation) -> ExplanationDoc:
    return ExplanationDoc(
        phase=e.phase,
        endpoint=e.endpoint,
        window=e.window,
        source=e.source.value,
        p50_ms=_r(e.p50_ms),
        p99_ms=_r(e.p99_ms),
        median=_band(e.median),
        tail=_band(e.tail),
        deltas=[
            StageDeltaDoc(
                stage=d.stage,
                label=stage_label(d.stage),
                median_ms=round(d.median_ms, _ROUND),
                tail_ms=round(d.tail_ms, _ROUND),
                delta_ms=round(d.delta_ms, _ROUND),
                elevated_share=round(d.elevated_share, 4),
            )
            for d in e.deltas
        ],
        driver=e.driver,
        driver_delta_ms=_r(e.driver_delta_ms),
        server_driver=e.server_driver,
        sentence=e.sentence(),
        slowest=[r.trace_id for r in e.slowest],
        above_p99=[r.trace_id for r in e.above_p99],
    )


def _request(r: TracedRequest) -> TracedRequestDoc:
    c = r.client
    return TracedRequestDoc(
        phase=r.phase,
        endpoint=r.endpoint,
        outcome=r.outcome,
        trace_id=r.trace_id,
        intended_s=round(r.intended_s, 6),
        sent_s=round(r.sent_s, 6),
        latency_ms=round(r.latency_ms, _ROUND),
        service_ms=round(r.service_ms, _ROUND),
        degraded=r.degraded,
        server_timing=[StageDoc(name=s.name, dur_ms=s.dur_ms, desc=s.desc) for s in r.stages],
        client=None
        if c is None
        else ClientMarksDoc(
            connect_ms=round(c.connect_ms, _ROUND),
            send_ms=round(c.send_ms, _ROUND),
            wait_ms=round(c.wait_ms, _ROUND),
            receive_ms=round(c.receive_ms, _ROUND),
        ),
    )


def _used(explanations: Sequence[TailExplanation]) -> list[TracedRequest]:
    """The kept requests the explanations use: slowest, above p99, and both bands' members."""
    picked: dict[str, TracedRequest] = {}
    for e in explanations:
        for r in (*e.slowest, *e.above_p99, *e.median_requests, *e.tail_requests):
            picked.setdefault(r.trace_id, r)
    return sorted(picked.values(), key=lambda r: (r.phase, r.endpoint, r.intended_s, r.trace_id))


def tail_doc(run: RunResult) -> TailSectionDoc | None:
    """The ``tail`` section of report.json (None when the run kept no requests)."""
    if not run.tails:
        return None
    explained = explain_tails(run)
    windows = explain_windows(run)
    requests = _used((*explained, *windows))
    return TailSectionDoc(
        lanes=[
            LaneDoc(phase=s.phase, endpoint=s.endpoint, seen=s.seen, kept=len(s.requests))
            for s in run.tails
        ],
        explanations=[_explanation(e) for e in explained],
        fault_windows=[_explanation(e) for e in windows],
        requests=[_request(r) for r in requests],
    )


def tails_from_doc(doc: TailSectionDoc | None) -> tuple[TailSample, ...]:
    """The kept requests of a report read back, per lane (inverse of :func:`tail_doc`)."""
    if doc is None:
        return ()
    grouped: dict[tuple[str, str], list[TracedRequest]] = {}
    for d in doc.requests:
        c = d.client
        grouped.setdefault((d.phase, d.endpoint), []).append(
            TracedRequest(
                phase=d.phase,
                endpoint=d.endpoint,
                outcome=d.outcome,
                trace_id=d.trace_id,
                intended_s=d.intended_s,
                sent_s=d.sent_s,
                latency_ms=d.latency_ms,
                service_ms=d.service_ms,
                stages=tuple(ServerStage(s.name, s.dur_ms, s.desc) for s in d.server_timing),
                client=None
                if c is None
                else ClientMarks(c.connect_ms, c.send_ms, c.wait_ms, c.receive_ms),
            )
        )
    return tuple(
        TailSample(lane.phase, lane.endpoint, lane.seen, tuple(grouped.get(key, ())))
        for lane in doc.lanes
        for key in ((lane.phase, lane.endpoint),)
    )


# -- summary.md ----------------------------------------------------------------------------------
def _shown(run: RunResult) -> tuple[TailExplanation, ...]:
    """What the human-facing pages show: verdict phases (warm-up only in report.json) and every
    fault window."""
    judged = {p.name for p in run.phases if p.in_verdict}
    phases = tuple(e for e in explain_tails(run) if e.phase in judged)
    return (*phases, *explain_windows(run))


def tail_summary_lines(run: RunResult) -> list[str]:
    """summary.md's "Where the tail went" lines (empty when nothing was kept)."""
    if not run.tails:
        return []
    from harness.report.markdown import md_cell  # markdown imports this module

    lines = ["", "### Where the tail went", ""]
    for e in _shown(run):
        # Phase, endpoint and a service's own stage names are user text: escaped like any cell.
        lines.append(f"- {md_cell(f'{e.phase} / {e.endpoint}: {e.sentence()}')}")
        if e.window is None and e.slowest:
            worst = e.slowest[0]
            lines.append(
                f"  - slowest: {worst.latency_ms:.1f} ms, trace `{worst.trace_id}` "
                f"(intended at {worst.intended_s:.3f} s, sent at {worst.sent_s:.3f} s)"
            )
    return lines


# -- report.html ---------------------------------------------------------------------------------
def tail_html(run: RunResult) -> tuple[list[str], Table | None, Table | None]:
    """(sentences, breakdown table, slow-request table) for report.html."""
    if not run.tails:
        return [], None, None
    explained = _shown(run)
    sentences = [f"{e.phase} / {e.endpoint}: {e.sentence()}" for e in explained]
    rows = []
    for e in explained:
        scope = f"{e.phase} / {e.endpoint}" + (f" (fault {e.window})" if e.window else "")
        for d in e.deltas:
            if max(abs(d.median_ms), abs(d.tail_ms)) < 0.001:
                continue  # a stage neither band spent time in (e.g. no unstaged server time)
            css = "fail" if d.stage in (e.driver, e.server_driver) else ""
            rows.append(
                [
                    Cell(scope),
                    Cell(stage_label(d.stage), css),
                    Cell(f"{d.median_ms:.3f}"),
                    Cell(f"{d.tail_ms:.3f}"),
                    Cell(f"{d.delta_ms:+.3f}", css),
                    Cell(f"{d.elevated_share:.0%}"),
                ]
            )
    breakdown = Table(
        ("Scope", "Stage", "Median band (ms)", "Tail band (ms)", "Difference", "Elevated in"),
        rows,
        "Mean time per stage around the median (p40-p60) and above p99; the highlighted stage "
        "explains the difference. 'Elevated in': share of the tail's requests where that stage "
        "is high.",
        numeric_from=2,
    )
    slow_rows = [
        [
            Cell(f"{e.phase} / {e.endpoint}"),
            Cell(r.trace_id),
            Cell(f"{r.intended_s:.3f}"),
            Cell(f"{r.sent_s:.3f}"),
            Cell(f"{r.latency_ms:.2f}"),
            Cell(r.outcome),
            Cell(_top_stage(r)),
        ]
        for e in explained
        if e.window is None
        for r in e.slowest[:10]
    ]
    slow = Table(
        ("Scope", "Trace id", "Intended (s)", "Sent (s)", "Latency (ms)", "Outcome", "Longest"),
        slow_rows,
        "The ten slowest requests per phase and endpoint (report.json lists 20 and a sample "
        "above p99); times are seconds after the run's start.",
        numeric_from=2,
    )
    return sentences, breakdown, slow


def _top_stage(r: TracedRequest) -> str:
    timed = [(s.dur_ms, s.name) for s in r.stages if s.dur_ms is not None and s.name != "total"]
    if timed:
        ms, name = max(timed)
        return f"{stage_label(name)} {ms:.1f} ms" + (" (degraded)" if r.degraded else "")
    if r.client is not None:
        c = r.client
        parts = {"connect": c.connect_ms, "send": c.send_ms, "wait": c.wait_ms}
        parts["receive"] = c.receive_ms
        name = max(parts, key=lambda k: parts[k])
        return f"{stage_label(name)} {parts[name]:.1f} ms (client side)"
    return "no timing"


def tail_plot(run: RunResult) -> Plot | None:
    """The stacked bars (median band vs tail band per phase x endpoint), or None."""
    explained = [e for e in _shown(run) if e.median and e.tail]
    if not explained:
        return None
    bars: list[tuple[str, dict[str, float]]] = []
    for e in explained:
        assert e.median is not None
        assert e.tail is not None
        scope = f"{e.endpoint}" + (f" ({e.window})" if e.window else f" ({e.phase})")
        for band in (e.median, e.tail):
            bars.append((f"{scope}\n{band.label}", {k: v for k, v in band.stages if v >= 0.001}))
    labels = {k: stage_label(k) for _, stages in bars for k in stages}
    svg = stacked_bands_svg(bars, labels)
    return Plot(
        "Where the tail went",
        Markup(svg),
        "Mean milliseconds per stage of the requests around the median and above p99 (per "
        "phase and endpoint; in game days also during each fault). Stages come from the "
        "service's Server-Timing header, or from the client (connect, send, wait, receive) "
        "when it sends none.",
    )


_PALETTE: Final = (
    "#264653", "#2a9d8f", "#8ab17d", "#e9c46a", "#f4a261", "#e76f51", "#9b5de5", "#00bbf9",
    "#6c757d", "#b5838d", "#adb5bd", "#343a40",
)  # fmt: skip


@_styled
def stacked_bands_svg(bars: Sequence[tuple[str, dict[str, float]]], labels: dict[str, str]) -> str:
    """Horizontal stacked bars, one per band, one segment per stage (ms)."""
    fig, ax = _figure()
    order = list(dict.fromkeys(k for _, stages in bars for k in stages))
    y = list(range(len(bars)))[::-1]
    for i, stage in enumerate(order):
        left = [sum(st.get(k, 0.0) for k in order[:i]) for _, st in bars]
        width = [st.get(stage, 0.0) for _, st in bars]
        ax.barh(y, width, left=left, color=_PALETTE[i % len(_PALETTE)], label=labels[stage])
    ax.set_yticks(y, [label for label, _ in bars], fontsize=7)
    ax.set_xlabel("mean milliseconds per request")
    # The legend below the bars: stage names are long, a side legend would squeeze the axes.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3, fontsize=7, frameon=False)
    fig.set_figheight(0.45 * len(bars) + 0.35 * (len(order) // 3 + 1) + 1.6)
    return _svg(fig, "tail", "Where the tail went: mean stage times, median band vs tail band")
