"""Accept an OpenSLO v1 ``kind: SLO`` document and map it onto slo-harness latency objectives.

Why a mapping and not a second evaluator: OpenSLO describes *what* is promised; its indicators are
queries against a metrics backend the harness does not have. The harness measures request latency
itself, so it reads the one indicator shape whose meaning is unambiguous for a load test, the
threshold metric, as "request latency in milliseconds" and maps each objective to a percentile::

    objectives: [{op: lt, value: 50, target: 0.99}]   ->   p99 latency < 50 ms

i.e. "99% of requests complete in under 50 ms" (Occurrences budgeting) is exactly "p99 < 50 ms".

Mapping (as built):
- ``metadata.name`` -> ``SloSpec.name``; ``spec.description`` (else ``metadata.displayName``) ->
  ``description``; each objective's ``displayName`` -> the objective's ``name``.
- ``target`` (or ``targetPercent``) 0.5 / 0.9 / 0.95 / 0.99 / 0.999 -> p50 / p90 / p95 / p99 /
  p99.9; ``op`` lt -> ``<``, lte -> ``<=``; ``value`` -> ``threshold_ms``.
- ``thresholdMetric.metricSource`` with ``type: slo-harness`` may scope the objectives with
  ``spec: {phase: <name or "*">, endpoint: <name>}``; any other source type is accepted and its
  query ignored (the harness measures latency itself), scope = every verdict phase, all endpoints.
- ``timeWindow`` is accepted and ignored: the window is the run's verdict phase.
- ``service``, ``alertPolicies``, ``metadata.labels``/``annotations`` are accepted and ignored.

Unsupported, each a SpecError naming the field: ``indicatorRef`` (needs a separate SLI document),
``ratioMetric`` indicators, ``budgetingMethod`` Timeslices / RatioTimeslices, objective-level
``indicator``/``indicatorRef``/``timeSliceTarget``/``timeSliceWindow``/``compositeWeight``,
``op`` gt/gte (a lower bound on latency), other targets, and any other ``apiVersion`` than
``openslo/v1``.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final, Literal

from msgspec import Meta, Struct

from harness.errors import SpecError
from harness.spec._load import convert_spec
from harness.spec.slo import (
    ALL_PHASES,
    MAX_THRESHOLD_MS,
    LatencyObjective,
    Name,
    Percentile,
    SloSpec,
    UpperOp,
)

__all__ = ["HARNESS_SOURCE_TYPE", "openslo_to_spec"]

#: ``metricSource.type`` whose ``spec`` slo-harness reads (phase/endpoint scope).
HARNESS_SOURCE_TYPE: Final = "slo-harness"

_TARGETS: Final = {
    0.5: Percentile.P50,
    0.9: Percentile.P90,
    0.95: Percentile.P95,
    0.99: Percentile.P99,
    0.999: Percentile.P99_9,
}


class _Os(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, rename="camel"):
    """OpenSLO documents are camelCase; field names here are snake_case."""


class _Metadata(_Os, frozen=True):
    name: Name
    display_name: str | None = None
    labels: dict[str, str | list[str]] | None = None
    annotations: dict[str, str] | None = None


class _MetricSource(_Os, frozen=True):
    metric_source_ref: str | None = None
    type: str | None = None
    spec: dict[str, object] | None = None


class _ThresholdMetric(_Os, frozen=True):
    metric_source: _MetricSource


class _SliSpec(_Os, frozen=True):
    description: str | None = None
    threshold_metric: _ThresholdMetric | None = None
    ratio_metric: object | None = None


class _Indicator(_Os, frozen=True):
    metadata: _Metadata
    spec: _SliSpec


class _TimeWindow(_Os, frozen=True):
    duration: str
    is_rolling: bool | None = None
    calendar: object | None = None


class _Op(enum.Enum):
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"


class _Budgeting(enum.Enum):
    OCCURRENCES = "Occurrences"
    TIMESLICES = "Timeslices"
    RATIO_TIMESLICES = "RatioTimeslices"


class _Objective(_Os, frozen=True):
    display_name: str | None = None
    op: _Op | None = None
    value: float | None = None
    target: float | None = None
    target_percent: float | None = None
    time_slice_target: object | None = None
    time_slice_window: object | None = None
    indicator: object | None = None
    indicator_ref: object | None = None
    composite_weight: object | None = None


class _Spec(_Os, frozen=True):
    objectives: Annotated[tuple[_Objective, ...], Meta(min_length=1)]
    description: str | None = None
    service: str | None = None
    indicator: _Indicator | None = None
    indicator_ref: str | None = None
    time_window: tuple[_TimeWindow, ...] | None = None
    budgeting_method: _Budgeting | None = None
    alert_policies: tuple[object, ...] | None = None


class _Document(_Os, frozen=True):
    api_version: Literal["openslo/v1"]
    kind: Literal["SLO"]
    metadata: _Metadata
    spec: _Spec


class _HarnessSource(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    phase: Name = ALL_PHASES
    endpoint: Name | None = None


_UNSUPPORTED_OBJECTIVE_FIELDS: Final = (
    ("indicator", "indicator", "the SLO-level indicator (per-objective indicators: unsupported)"),
    ("indicator_ref", "indicatorRef", "the SLO-level indicator (indicatorRef: unsupported)"),
    ("time_slice_target", "timeSliceTarget", "Occurrences objectives (time slices: unsupported)"),
    ("time_slice_window", "timeSliceWindow", "Occurrences objectives (time slices: unsupported)"),
    ("composite_weight", "compositeWeight", "a plain objective (composite SLOs: unsupported)"),
)


def openslo_to_spec(data: object, file: str) -> SloSpec:
    """Validate an OpenSLO v1 SLO document and map it to an :class:`SloSpec` (see module doc)."""
    try:
        doc = convert_spec(data, _Document, file)
    except SpecError as exc:
        raise _refine(exc) from None
    spec = doc.spec
    if spec.budgeting_method not in (None, _Budgeting.OCCURRENCES):
        raise SpecError(
            file,
            "$.spec.budgetingMethod",
            "Occurrences (a load-test run is judged per request; time-slice budgeting "
            "is not supported)",
        )
    if spec.indicator_ref is not None:
        raise SpecError(
            file,
            "$.spec.indicatorRef",
            "an inline spec.indicator with a thresholdMetric (indicatorRef needs a separate "
            "SLI document, which slo-harness does not resolve)",
        )
    if spec.indicator is None:
        raise SpecError(file, "$.spec", "an inline `indicator` with a thresholdMetric")
    scope = _scope(spec.indicator, file)
    objectives = tuple(
        _objective(obj, f"$.spec.objectives[{i}]", scope, file)
        for i, obj in enumerate(spec.objectives)
    )
    return SloSpec(
        name=doc.metadata.name,
        description=spec.description or doc.metadata.display_name or "",
        objectives=objectives,
    )


def _scope(indicator: _Indicator, file: str) -> _HarnessSource:
    base = "$.spec.indicator.spec"
    if indicator.spec.ratio_metric is not None:
        raise SpecError(
            file,
            f"{base}.ratioMetric",
            "a thresholdMetric (slo-harness measures request latency itself; "
            "ratioMetric indicators are not supported)",
        )
    if indicator.spec.threshold_metric is None:
        raise SpecError(file, base, "a `thresholdMetric` (request latency in milliseconds)")
    source = indicator.spec.threshold_metric.metric_source
    if source.type != HARNESS_SOURCE_TYPE or source.spec is None:
        return _HarnessSource()
    return convert_spec(
        source.spec, _HarnessSource, file, root=f"{base}.thresholdMetric.metricSource.spec"
    )


def _objective(obj: _Objective, path: str, scope: _HarnessSource, file: str) -> LatencyObjective:
    for attr, key, expected in _UNSUPPORTED_OBJECTIVE_FIELDS:
        if getattr(obj, attr) is not None:
            raise SpecError(file, f"{path}.{key}", expected)
    if obj.op is None:
        raise SpecError(file, path, "Object missing required field `op` (lt or lte)")
    if obj.op in (_Op.GT, _Op.GTE):
        raise SpecError(
            file, f"{path}.op", f"lt or lte (got {obj.op.value}: a lower bound on latency)"
        )
    if obj.value is None:
        raise SpecError(file, path, "Object missing required field `value` (milliseconds)")
    if not 0.0 < obj.value <= MAX_THRESHOLD_MS:
        raise SpecError(
            file, f"{path}.value", f"milliseconds above 0 and at most {MAX_THRESHOLD_MS:,.0f}"
        )
    return LatencyObjective(
        name=obj.display_name,
        phase=scope.phase,
        endpoint=scope.endpoint,
        percentile=_percentile(obj, path, file),
        op=UpperOp.LT if obj.op is _Op.LT else UpperOp.LE,
        threshold_ms=obj.value,
    )


def _percentile(obj: _Objective, path: str, file: str) -> Percentile:
    as_ratio = ", ".join(f"{t:g}" for t in _TARGETS)
    as_percent = ", ".join(f"{t * 100:g}" for t in _TARGETS)
    if (obj.target is None) == (obj.target_percent is None):
        raise SpecError(
            file, path, f"exactly one of `target` ({as_ratio}) or `targetPercent` ({as_percent})"
        )
    if obj.target is not None:
        field, target, ratio, allowed = "target", obj.target, obj.target, as_ratio
    else:
        assert obj.target_percent is not None
        field, target, allowed = "targetPercent", obj.target_percent, as_percent
        ratio = target / 100.0
    for known, percentile in _TARGETS.items():
        if abs(ratio - known) < 1e-9:
            return percentile
    raise SpecError(
        file, f"{path}.{field}", f"one of {allowed} (got {target:g}: no such percentile)"
    )


_ENUM_FIELDS: Final = {
    "$.apiVersion": "openslo/v1",
    "$.kind": "SLO",
    "$.spec.budgetingMethod": "Occurrences",
}


def _refine(exc: SpecError) -> SpecError:
    """Say what would be accepted where msgspec only says what was not."""
    if not exc.expected.startswith("Invalid enum value"):
        return exc
    got = exc.expected.rsplit(" ", 1)[-1]
    allowed = _ENUM_FIELDS.get(exc.path)
    if allowed is None and exc.path.startswith("$.spec.objectives[") and exc.path.endswith(".op"):
        allowed = "lt or lte"
    return exc if allowed is None else SpecError(exc.file, exc.path, f"{allowed} (got {got})")
