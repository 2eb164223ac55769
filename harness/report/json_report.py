"""``report.json``: build the document from a run and serialise it canonically.

Canonical form (what the manifest hashes): orjson with sorted keys, two-space indent and a final
newline, floats rounded where they are built (milliseconds to 3 decimals, other quantities to 6
significant digits). The same inputs therefore give byte-identical files, and re-serialising a
parsed report reproduces it exactly, which is how ``verify`` checks the canonical digest.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, TypeVar

import msgspec
import orjson

from harness.measure import (
    Clock,
    FaultWindow,
    GeneratorHealth,
    IntervalRecord,
    LatencyHistogram,
    Outcome,
    PhaseResult,
    RequestCounts,
    RunResult,
    in_time_order,
)
from harness.report.document import (
    SCHEMA_VERSION,
    AuditDoc,
    ComparisonDoc,
    EndpointDoc,
    EndpointRequestsDoc,
    FaultWindowDoc,
    GeneratorDoc,
    HistogramDoc,
    IntervalDoc,
    KneeDoc,
    LatencyDoc,
    MetricComparisonDoc,
    ObjectiveDoc,
    PhaseDoc,
    ProvenanceDoc,
    ReportDoc,
    RequestsDoc,
    RunDoc,
    ScenarioDoc,
    TargetDoc,
)
from harness.report.gameday import gameday_doc
from harness.report.inputs import ReportInputs
from harness.report.provenance import redact_url
from harness.report.responses import responses_doc
from harness.report.series import EMBED_INTERVALS_MAX, HLOG_FILE, ReportSeries, interval_doc
from harness.report.stats import LatencySummary, endpoint_counts, round_sig, summarise
from harness.report.tail_section import tail_doc
from harness.slo import Comparison, Knee, ObjectiveResult

__all__ = [
    "build_document",
    "canonical_json",
    "latency_doc",
    "render_report_json",
    "to_doc",
]

D = TypeVar("D", bound=msgspec.Struct)

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def canonical_json(doc: ReportDoc | dict[str, Any]) -> bytes:
    """The canonical bytes of a report document (sorted keys, 2-space indent, final newline)."""
    builtins = msgspec.to_builtins(doc) if isinstance(doc, ReportDoc) else doc
    return orjson.dumps(builtins, option=_OPTIONS)


def render_report_json(inputs: ReportInputs, *, series: ReportSeries | None = None) -> bytes:
    """``report.json``'s bytes (with the game day's and the boundary's sections when given;
    ``series``: the interval documents already taken from the series' one pass)."""
    return canonical_json(build_document(inputs, series=series))


def build_document(inputs: ReportInputs, *, series: ReportSeries | None = None) -> ReportDoc:
    """The typed ``report.json`` document of a run. The interval series is embedded up to
    :data:`EMBED_INTERVALS_MAX` records, else referred to in latency.hlog (``intervals_in``)."""
    result, verdict, comparison, journal = (
        inputs.result, inputs.verdict, inputs.comparison, inputs.journal
    )  # fmt: skip
    if series is not None:
        embedded = series.embedded
    elif len(result.intervals) <= EMBED_INTERVALS_MAX:
        embedded = [_interval(r) for r in in_time_order(result.intervals)]
    else:
        embedded = None
    return ReportDoc(
        schema_version=SCHEMA_VERSION,
        run=RunDoc(
            started_at=result.started_at,
            ended_at=result.ended_at,
            duration_s=round((result.ended_at - result.started_at).total_seconds(), 3),
            workers=result.workers,
            incomplete=result.incomplete,
        ),
        scenario=to_doc(result.scenario, ScenarioDoc),
        # placement (NetworkPlacement -> PlacementDoc) is converted by msgspec with the rest
        target=to_doc(result.target, TargetDoc, url=redact_url(result.target.url)),
        generator=_generator(result.generator),
        verdict=verdict.status,
        verdict_reasons=list(verdict.reasons),
        objectives=[_objective(o) for o in verdict.objectives],
        capacity=[_knee(k) for k in verdict.capacity],
        phases=[_phase(p, result) for p in result.phases],
        intervals=embedded or [],
        intervals_in=None if embedded is not None else HLOG_FILE,
        fault_windows=[_fault(w) for w in result.fault_windows],
        audit=None if result.audit is None else to_doc(result.audit, AuditDoc),
        comparison=None if comparison is None else _comparison(comparison),
        provenance=msgspec.structs.replace(
            msgspec.convert(inputs.provenance, ProvenanceDoc, from_attributes=True),
            secrets_used=list(result.secrets_used),
        ),
        gameday=None if journal is None else gameday_doc(journal),
        pci=inputs.pci,
        tail=tail_doc(result),
    )


def latency_doc(summary: LatencySummary) -> LatencyDoc:
    """A :class:`LatencySummary` as its document struct (same fields)."""
    return msgspec.convert(summary, LatencyDoc, from_attributes=True)


def _requests(c: RequestCounts) -> RequestsDoc:
    return msgspec.convert(c, RequestsDoc, from_attributes=True)


def _latency(hist: LatencyHistogram) -> LatencyDoc:
    return latency_doc(summarise(hist))


def _phase(p: PhaseResult, result: RunResult) -> PhaseDoc:
    endpoints = []
    for endpoint in p.endpoints:
        c = endpoint_counts(p, endpoint)
        endpoints.append(
            EndpointDoc(
                endpoint=endpoint,
                latency_ms=_latency(p.latency(endpoint=endpoint)),
                service_time_ms=_latency(p.latency(endpoint=endpoint, clock=Clock.SERVICE)),
                requests=EndpointRequestsDoc(sent=c.sent, ok=c.ok, failed=c.failed, shed=c.shed),
                responses=responses_doc(result, p.name, endpoint),
            )
        )
    order = {o: i for i, o in enumerate(Outcome)} | {c: i for i, c in enumerate(Clock)}
    keys = sorted(p.histograms, key=lambda k: (k.endpoint, order[k.outcome], order[k.clock]))
    return PhaseDoc(
        name=p.name,
        kind=p.kind,
        in_verdict=p.in_verdict,
        start_s=round(p.start_s, 3),
        duration_s=round(p.duration_s, 3),
        offered_rps=round_sig(p.offered_rps),
        achieved_rps=round_sig(p.achieved_rps),
        requests=_requests(p.counts),
        latency_ms=_latency(p.latency()),
        service_time_ms=_latency(p.latency(clock=Clock.SERVICE)),
        endpoints=endpoints,
        histograms=[
            HistogramDoc(
                endpoint=k.endpoint,
                outcome=k.outcome,
                clock=k.clock,
                encoded=p.histograms[k].encode(),
                out_of_range=p.histograms[k].out_of_range,
            )
            for k in keys
        ],
    )


def _interval(r: IntervalRecord) -> IntervalDoc:
    return interval_doc(
        r.start_s,
        r.length_s,
        r.phase,
        r.offered,
        r.counts,
        r.latency.encode(),
        r.latency.out_of_range,
    )


def _objective(o: ObjectiveResult) -> ObjectiveDoc:
    return to_doc(o, ObjectiveDoc, threshold=round_sig(o.threshold), observed=_optional(o.observed))


def _knee(k: Knee) -> KneeDoc:
    first = None if k.first_breach_s is None else round(k.first_breach_s, 3)
    return to_doc(
        k,
        KneeDoc,
        percentile=round_sig(k.percentile),
        threshold_ms=round_sig(k.threshold_ms),
        knee_rps=_optional(k.knee_rps),
        max_offered_rps=round_sig(k.max_offered_rps),
        first_breach_s=first,
    )


def _generator(g: GeneratorHealth) -> GeneratorDoc:
    return to_doc(
        g,
        GeneratorDoc,
        cpu_percent_p50=round_sig(g.cpu_percent_p50, 4),
        cpu_percent_max=round_sig(g.cpu_percent_max, 4),
        schedule_lag_p99_ms=round(g.schedule_lag_p99_ms, 3),
        schedule_lag_max_ms=round(g.schedule_lag_max_ms, 3),
    )


def _fault(w: FaultWindow) -> FaultWindowDoc:
    return to_doc(w, FaultWindowDoc, start_s=round(w.start_s, 3), end_s=round(w.end_s, 3))


def _optional(value: float | None, digits: int = 6) -> float | None:
    """Rounded, or None when absent or not finite (JSON has no NaN or infinity)."""
    return None if value is None or not math.isfinite(value) else round_sig(value, digits)


def _comparison(c: Comparison) -> ComparisonDoc:
    metrics = [
        to_doc(
            m,
            MetricComparisonDoc,
            base_ms=round(m.base_ms, 3),
            new_ms=round(m.new_ms, 3),
            ratio=_optional(m.ratio),
            ci_low=_optional(m.ci_low),
            ci_high=_optional(m.ci_high),
            p_value=_optional(m.p_value, 4),
        )
        for m in c.metrics
    ]
    canonical = {"tolerance": round_sig(c.tolerance), "alpha": round_sig(c.alpha)}
    return to_doc(c, ComparisonDoc, metrics=metrics, **canonical)


def to_doc(obj: Any, doc_type: type[D], **canonical: object) -> D:
    """``obj`` (a domain dataclass) as ``doc_type``, by msgspec: fields of the same name are
    carried over; ``canonical`` replaces some of them with their canonical (rounded) value."""
    source = dataclasses.replace(obj, **canonical) if canonical else obj
    return msgspec.convert(source, doc_type, from_attributes=True)
