"""The SLO file: which objectives a run must meet, per phase and endpoint.

Parsed once at the edge (:func:`load_slo`) into frozen msgspec Structs; unknown keys are errors, so
``treshold_ms: 50`` fails loudly instead of silently judging nothing. Each objective kind is its own
Struct (a tagged union on ``metric``), so a field that does not belong to a kind is reported at its
exact path. Two input formats are accepted:

1. the native format (``apiVersion: slo-harness/v1``, OpenSLO-inspired), documented by
   ``scenarios/slo/every-kind.yaml``::

       apiVersion: slo-harness/v1
       name: fintech-default
       objectives:
         - metric: latency          # latency | error_rate | availability | shed_rate
           percentile: p99          #   | throughput_ratio | burn_rate
           op: "<"
           threshold_ms: 50
           phase: "*"               # "*" = every verdict phase (default), or a phase name
           endpoint: score          # optional; omitted = all endpoints merged
         - metric: error_rate       # failed / sent, a ratio in 0..1 (0.001 = 0.1%)
           op: "<"
           threshold: 0.001

2. an OpenSLO v1 ``kind: SLO`` document with a threshold-metric indicator, mapped to latency
   objectives by :mod:`harness.spec.openslo` (anything unsupported is a SpecError naming its field).

Units: latency thresholds in milliseconds (``threshold_ms``), rates as ratios in 0..1, burn-rate
limits as multiples of the budget-neutral pace (``14.4`` = 14.4x), windows in seconds.
Upper-bounded metrics take ``<``/``<=``, lower-bounded ones (availability, throughput_ratio)
``>``/``>=``; the enums enforce that, so "p99 > 50 ms" cannot be written by accident.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, Literal

import msgspec
from msgspec import Meta, Struct

from harness.errors import SpecError
from harness.spec._load import convert_spec, read_yaml
from harness.spec._slo_messages import refine_native

if TYPE_CHECKING:
    from harness.spec.scenario import Scenario

__all__ = [
    "ALL_PHASES",
    "MAX_THRESHOLD_MS",
    "AvailabilityObjective",
    "BurnRateObjective",
    "BurnWindow",
    "ErrorRateObjective",
    "LatencyObjective",
    "LowerOp",
    "Objective",
    "Percentile",
    "ShedRateObjective",
    "Sli",
    "SloSpec",
    "ThroughputObjective",
    "UpperOp",
    "default_slo",
    "load_slo",
    "parse_slo",
    "validate_slo_against",
    "validate_slo_endpoints",
    "validate_slo_phases",
]

#: ``phase: "*"``: the objective applies to every verdict phase (warm-up excluded).
ALL_PHASES: Final = "*"

Name = Annotated[str, Meta(min_length=1)]
Ratio = Annotated[float, Meta(ge=0.0, le=1.0)]
Target = Annotated[float, Meta(gt=0.0, lt=1.0)]
#: Bound that catches typos (seconds written as ms) rather than expresses anything measurable.
MAX_THRESHOLD_MS: Final = 3_600_000.0
PositiveMs = Annotated[float, Meta(gt=0.0, le=MAX_THRESHOLD_MS)]
Seconds = Annotated[float, Meta(gt=0.0, le=30 * 24 * 3600.0)]


class Percentile(enum.Enum):
    """A latency statistic an objective can bound."""

    P50 = "p50"
    P90 = "p90"
    P95 = "p95"
    P99 = "p99"
    P99_9 = "p99.9"
    MAX = "max"

    @property
    def rank(self) -> float | None:
        """The percentile as a number in 0..100; None for ``max``."""
        return None if self is Percentile.MAX else float(self.value[1:])

    @property
    def key(self) -> str:
        """Identifier-safe form for metric names: ``p99_9``, ``max``."""
        return self.value.replace(".", "_")


class UpperOp(enum.Enum):
    """Comparison for metrics that must stay below a limit."""

    LT = "<"
    LE = "<="

    def holds(self, observed: float, limit: float) -> bool:
        """True when ``observed`` satisfies ``observed <op> limit``."""
        return observed < limit if self is UpperOp.LT else observed <= limit


class LowerOp(enum.Enum):
    """Comparison for metrics that must stay above a limit."""

    GT = ">"
    GE = ">="

    def holds(self, observed: float, limit: float) -> bool:
        """True when ``observed`` satisfies ``observed <op> limit``."""
        return observed > limit if self is LowerOp.GT else observed >= limit


class Sli(enum.Enum):
    """Which events count as bad for a burn-rate objective.

    ``errors``: bad = failed responses (as in ``error_rate``; shed requests are not errors).
    ``latency``: bad = every request not answered OK within ``latency_threshold_ms`` (failed, shed
    and slow OK responses), the SRE workbook's latency SLI.
    """

    ERRORS = "errors"
    LATENCY = "latency"


class _Objective(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="metric"):
    """Fields every objective kind has: an optional display name and its scope."""

    name: Name | None = None
    phase: Name = ALL_PHASES
    endpoint: Name | None = None

    @property
    def label(self) -> str:
        """The display name: ``name`` when given, else generated from the objective."""
        return self.name or self._default_label()

    def _default_label(self) -> str:  # pragma: no cover - every kind overrides it
        raise NotImplementedError


class LatencyObjective(_Objective, tag="latency", frozen=True, kw_only=True):
    """A latency percentile (intended clock, OK responses) must stay below ``threshold_ms``."""

    percentile: Percentile
    threshold_ms: PositiveMs
    op: UpperOp = UpperOp.LT

    def _default_label(self) -> str:
        return f"{self.percentile.value} latency {self.op.value} {_num(self.threshold_ms)} ms"


class ErrorRateObjective(_Objective, tag="error_rate", frozen=True, kw_only=True):
    """failed / sent must stay below ``threshold`` (a ratio: 0.001 = 0.1%)."""

    threshold: Ratio
    op: UpperOp = UpperOp.LT

    def __post_init__(self) -> None:
        _check_upper(self.op, self.threshold)

    def _default_label(self) -> str:
        return f"error rate {self.op.value} {_pct(self.threshold)}"


class ShedRateObjective(_Objective, tag="shed_rate", frozen=True, kw_only=True):
    """shed / sent (requests the target refused on purpose, 503) must stay below ``threshold``."""

    threshold: Ratio
    op: UpperOp = UpperOp.LT

    def __post_init__(self) -> None:
        _check_upper(self.op, self.threshold)

    def _default_label(self) -> str:
        return f"shed rate {self.op.value} {_pct(self.threshold)}"


class AvailabilityObjective(_Objective, tag="availability", frozen=True, kw_only=True):
    """ok / sent must reach ``target`` (0.999 = 99.9%)."""

    target: Annotated[float, Meta(gt=0.0, le=1.0)]
    op: LowerOp = LowerOp.GE

    def __post_init__(self) -> None:
        if self.op is LowerOp.GT and self.target >= 1.0:
            raise ValueError("`target`: below 1 with op '>' (no share can exceed 100%)")

    def _default_label(self) -> str:
        return f"availability {self.op.value} {_pct(self.target)}"


class ThroughputObjective(_Objective, tag="throughput_ratio", frozen=True, kw_only=True):
    """achieved / offered requests per second of a phase must reach ``threshold`` (0.99 = 99%)."""

    threshold: Annotated[float, Meta(gt=0.0, le=10.0)]
    op: LowerOp = LowerOp.GE

    def __post_init__(self) -> None:
        if self.endpoint is not None:
            raise ValueError(
                "`endpoint`: omitted (throughput is counted per phase, not per endpoint)"
            )

    def _default_label(self) -> str:
        return f"throughput {self.op.value} {_pct(self.threshold)} of offered"


class BurnWindow(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One multi-window alert: it fires when both windows burn faster than ``max_burn``."""

    long_s: Seconds
    short_s: Seconds
    max_burn: Annotated[float, Meta(gt=0.0, le=1_000_000.0)]

    def __post_init__(self) -> None:
        if self.short_s >= self.long_s:
            raise ValueError("`short_s`: shorter than long_s")

    @property
    def key(self) -> str:
        """Identifier-safe form for metric names: ``30s_5s``."""
        return f"{_num(self.long_s)}s_{_num(self.short_s)}s".replace(".", "_")


class BurnRateObjective(_Objective, tag="burn_rate", frozen=True, kw_only=True):
    """Error-budget burn rate over sliding windows of the 1 s interval series.

    The budget comes from ``target`` (0.999: 0.1% of events may be bad); the burn rate of a window
    is bad-fraction / (1 - target). Each entry of ``windows`` is judged as in the SRE workbook's
    multi-window alert: a breach needs the long AND the short window ending at the same second to
    exceed ``max_burn``. Burn rates are computed per phase over all endpoints (the interval series
    is not split by endpoint), so ``endpoint`` is not accepted.
    """

    sli: Sli
    target: Target
    windows: Annotated[tuple[BurnWindow, ...], Meta(min_length=1)]
    latency_threshold_ms: PositiveMs | None = None

    def __post_init__(self) -> None:
        if self.endpoint is not None:
            raise ValueError("`endpoint`: omitted (burn rates are computed over all endpoints)")
        if self.sli is Sli.LATENCY and self.latency_threshold_ms is None:
            raise ValueError("`latency_threshold_ms`: required when sli is latency")
        if self.sli is Sli.ERRORS and self.latency_threshold_ms is not None:
            raise ValueError("`latency_threshold_ms`: omitted when sli is errors")

    def _default_label(self) -> str:
        what = (
            f"latency <= {_num(self.latency_threshold_ms or 0)} ms"
            if self.sli is Sli.LATENCY
            else "non-error"
        )
        return f"burn rate of {_pct(self.target)} {what}"


Objective = (
    LatencyObjective
    | ErrorRateObjective
    | ShedRateObjective
    | AvailabilityObjective
    | ThroughputObjective
    | BurnRateObjective
)


class SloSpec(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A whole SLO: a name and at least one objective."""

    name: Name
    objectives: Annotated[tuple[Objective, ...], Meta(min_length=1)]
    description: str = ""
    api_version: Literal["slo-harness/v1"] = msgspec.field(
        default="slo-harness/v1", name="apiVersion"
    )


def default_slo() -> SloSpec:
    """The fintech default, identical to ``scenarios/slo/default.yaml`` (a test pins that)."""
    return SloSpec(
        name="fintech-default",
        description=(
            "Card-authorisation scoring: p99 latency under 50 ms, fewer than 0.1% failed "
            "requests and at least 99.9% of requests answered OK in every verdict phase."
        ),
        objectives=(
            LatencyObjective(percentile=Percentile.P99, op=UpperOp.LT, threshold_ms=50.0),
            ErrorRateObjective(op=UpperOp.LT, threshold=0.001),
            AvailabilityObjective(op=LowerOp.GE, target=0.999),
        ),
    )


def load_slo(path: Path) -> SloSpec:
    """Read an SLO file (native or OpenSLO v1); any problem is a SpecError(file, path, expected)."""
    return parse_slo(read_yaml(path), str(path))


def parse_slo(data: object, file: str) -> SloSpec:
    """Convert parsed YAML into an :class:`SloSpec`; ``file`` names the source in errors."""
    if isinstance(data, dict) and str(data.get("apiVersion", "")).startswith("openslo/"):
        from harness.spec.openslo import openslo_to_spec

        return openslo_to_spec(data, file)
    try:
        return convert_spec(data, SloSpec, file)
    except SpecError as exc:
        raise refine_native(exc, data, _ALLOWED, _LOWER_METRICS) from None


def validate_slo_phases(slo: SloSpec, phases: Iterable[str], *, file: str) -> None:
    """Reject an objective naming a phase the scenario does not have (call before the run)."""
    known = sorted(set(phases))
    for i, objective in enumerate(slo.objectives):
        if objective.phase != ALL_PHASES and objective.phase not in known:
            raise SpecError(
                file,
                f"$.objectives[{i}].phase",
                f'"*" or one of the scenario\'s phases: {", ".join(known)} '
                f"(got {objective.phase!r})",
            )


def validate_slo_endpoints(slo: SloSpec, endpoints: Iterable[str], *, file: str) -> None:
    """Reject an objective naming an endpoint the scenario never sends to (call before the run).

    Without this the whole load would run and the objective end INSUFFICIENT (no samples), so a
    typo would cost a run and turn a config error (exit 2) into "not measurable" (exit 3).
    """
    known = sorted(set(endpoints))
    for i, objective in enumerate(slo.objectives):
        if objective.endpoint is not None and objective.endpoint not in known:
            raise SpecError(
                file,
                f"$.objectives[{i}].endpoint",
                f"omitted (all endpoints) or one of the scenario's endpoints: {', '.join(known)} "
                f"(got {objective.endpoint!r})",
            )


def validate_slo_against(slo: SloSpec, scenario: Scenario, *, file: str) -> None:
    """Every phase and endpoint an objective names exists in ``scenario`` (SpecError if not)."""
    validate_slo_phases(slo, (p.name for p in scenario.phases), file=file)
    validate_slo_endpoints(slo, scenario.endpoint_names, file=file)


# -- error messages --------------------------------------------------------------------------
_KINDS: Final = (
    LatencyObjective,
    ErrorRateObjective,
    ShedRateObjective,
    AvailabilityObjective,
    ThroughputObjective,
    BurnRateObjective,
)
_ALLOWED: Final = {
    "metric": ", ".join(str(kind.__struct_config__.tag) for kind in _KINDS),
    "percentile": ", ".join(p.value for p in Percentile),
    "sli": ", ".join(s.value for s in Sli),
}
_LOWER_METRICS: Final = frozenset({"availability", "throughput_ratio"})


def _check_upper(op: UpperOp, threshold: float) -> None:
    if op is UpperOp.LT and threshold <= 0.0:
        raise ValueError("`threshold`: above 0 with op '<' (nothing is below 0), or op '<='")


def _num(value: float) -> str:
    """50.0 -> '50', 2.5 -> '2.5'."""
    return f"{value:g}" if math.isfinite(value) else str(value)


def _pct(ratio: float) -> str:
    """0.001 -> '0.1%', 0.9995 -> '99.95%'."""
    return f"{ratio * 100:.6g}%"
