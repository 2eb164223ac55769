"""The game-day file: a hypothesis, the load that runs throughout, abort conditions and a timeline.

Parsed once at the edge (:func:`load_gameday`) into frozen structs; every problem is a
:class:`~harness.errors.SpecError` naming the file, the field path and what was expected. Shape
(``scenarios/gamedays/*.yaml`` are complete examples)::

    title: Feature-store latency spike
    owner: sre-payments
    hypothesis: ../slo/default.yaml      # the steady state: an SLO file (path or inline)
    load: ../steady.yaml                 # a scenario (path or inline); runs for the whole game day
    blast_radius: {targets: [service, feature_store], max_concurrent_faults: 1}
    judgement: {window: 5s, hold: 10s}   # rolling window for detection; recovered after `hold`
    abort:
      - {signal: error_rate, above: 0.05, for: 10s}
      - {signal: latency, percentile: p99, above_ms: 500, for: 15s}
      - {signal: burn_rate, above: 14.4, windows: [1m, 5m], target: 0.999}
    timeline:
      - name: feature-store slow
        at: 30s
        for: 60s
        fault: {kind: latency, target: feature_store, latency_ms: 200}
        expect:                          # what must hold during the step (SLO objective format)
          - {metric: latency, percentile: p99, threshold_ms: 50}
        degraded_allowed: true
    recovery: 60s                        # load keeps running this long after the last step

Durations are seconds (a number) or strings with units: ``500ms``, ``30s``, ``2m``, ``1m30s``,
``1h``. Times (``at``) are offsets from the end of the scenario's warm-up, i.e. from the start of
the measured baseline. The whole game day lasts until the last step's end plus ``recovery``; the
scenario's main phase is stretched to cover it.

Rules checked here (exit 2 before anything starts): every fault's target lies inside
``blast_radius.targets``; no moment has more than ``max_concurrent_faults`` active faults; step
names are unique; objectives inside a game day carry no ``phase`` (the step's window is the scope).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta, Struct

from harness.errors import SpecError
from harness.spec._load import convert_spec, read_yaml
from harness.spec.faults import BlastTarget, FaultSpec
from harness.spec.scenario import Scenario, load_scenario
from harness.spec.slo import ALL_PHASES, Objective, Percentile, Sli, SloSpec, load_slo, parse_slo

__all__ = [
    "AbortCondition",
    "BlastRadius",
    "BurnRateAbort",
    "ErrorRateAbort",
    "GameDay",
    "GameDayFile",
    "Judgement",
    "LatencyAbort",
    "Step",
    "load_gameday",
    "parse_duration_s",
]

MAX_GAMEDAY_S: Final = 24 * 3600.0
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Seconds = Annotated[float, Meta(gt=0.0, le=MAX_GAMEDAY_S)]
Offset = Annotated[float, Meta(ge=0.0, le=MAX_GAMEDAY_S)]
Ratio = Annotated[float, Meta(ge=0.0, le=1.0)]

_DURATION: Final = re.compile(r"^\s*(?:(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)\s*)+$")
_PART: Final = re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration_s(value: object) -> float:
    """``30`` / ``"30s"`` / ``"1m30s"`` / ``"500ms"`` -> seconds; ValueError when unreadable."""
    if isinstance(value, bool):
        raise ValueError("a duration like 30s, 2m or 500ms (got a boolean)")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _DURATION.match(value):
        return sum(float(m["num"]) * _UNIT_S[m["unit"]] for m in _PART.finditer(value))
    raise ValueError(f"a duration like 30s, 2m, 1m30s or 500ms (got {value!r})")


class _Spec(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every game-day struct."""


# -- abort conditions ------------------------------------------------------------------------------
class _AbortBase(_Spec, frozen=True, kw_only=True, tag_field="signal"):
    @property
    def signal(self) -> str:
        """The ``signal`` tag."""
        return str(self.__struct_config__.tag)


class ErrorRateAbort(_AbortBase, tag="error_rate", frozen=True, kw_only=True):
    """Abort when (failed + shed) / completed exceeds ``above`` in each interval for ``for`` s."""

    above: Ratio
    for_s: Seconds = msgspec.field(name="for")

    @property
    def label(self) -> str:
        """e.g. ``error rate > 5% for 10 s``."""
        return f"error rate > {self.above:.4g} for {self.for_s:g} s"


class LatencyAbort(_AbortBase, tag="latency", frozen=True, kw_only=True):
    """Abort when the interval's latency percentile exceeds ``above_ms`` for ``for`` seconds."""

    above_ms: Annotated[float, Meta(gt=0.0, le=3_600_000.0)]
    for_s: Seconds = msgspec.field(name="for")
    percentile: Percentile = Percentile.P99

    @property
    def label(self) -> str:
        """e.g. ``p99 > 500 ms for 15 s``."""
        return f"{self.percentile.value} > {self.above_ms:g} ms for {self.for_s:g} s"


class BurnRateAbort(_AbortBase, tag="burn_rate", frozen=True, kw_only=True):
    """Abort when the error-budget burn rate exceeds ``above`` over every one of ``windows``
    (the SRE workbook's multi-window rule: 14.4 over 1 min AND 5 min)."""

    above: Annotated[float, Meta(gt=0.0, le=1_000_000.0)]
    windows_s: Annotated[tuple[Seconds, ...], Meta(min_length=1, max_length=4)] = msgspec.field(
        name="windows"
    )
    target: Annotated[float, Meta(gt=0.0, lt=1.0)] = 0.999
    sli: Sli = Sli.ERRORS
    latency_threshold_ms: Annotated[float, Meta(gt=0.0, le=3_600_000.0)] | None = None

    def __post_init__(self) -> None:
        if self.sli is Sli.LATENCY and self.latency_threshold_ms is None:
            raise ValueError("`latency_threshold_ms`: required when sli is latency")

    @property
    def label(self) -> str:
        """e.g. ``burn rate > 14.4 over 60 s and 300 s``."""
        spans = " and ".join(f"{w:g} s" for w in self.windows_s)
        return f"burn rate > {self.above:g} over {spans}"


AbortCondition = ErrorRateAbort | LatencyAbort | BurnRateAbort


# -- the rest of the file --------------------------------------------------------------------------
class BlastRadius(_Spec, frozen=True, kw_only=True):
    """What the game day may touch; enforced on the timeline when the file is read."""

    targets: Annotated[tuple[BlastTarget, ...], Meta(min_length=1)]
    max_concurrent_faults: Annotated[int, Meta(ge=1, le=16)] = 1
    notes: str = ""


class Judgement(_Spec, frozen=True, kw_only=True):
    """How steps are judged: the hypothesis on rolling ``window`` s; recovered after ``hold`` s."""

    window_s: Seconds = msgspec.field(default=5.0, name="window")
    hold_s: Seconds = msgspec.field(default=10.0, name="hold")


class Step(_Spec, frozen=True, kw_only=True):
    """One fault on the timeline and what must hold while it is active."""

    name: Name
    at_s: Annotated[float, Meta(gt=0.0, le=MAX_GAMEDAY_S)] = msgspec.field(name="at")
    for_s: Seconds = msgspec.field(name="for")
    fault: FaultSpec
    expect: tuple[Objective, ...] = ()
    degraded_allowed: bool = False
    notes: str = ""

    def __post_init__(self) -> None:
        for objective in self.expect:
            if objective.phase != ALL_PHASES:
                raise ValueError("`expect`: objectives without `phase` (the step is the scope)")

    @property
    def end_s(self) -> float:
        """When the fault is rolled back (offset from the baseline start)."""
        return self.at_s + self.for_s


class GameDayFile(_Spec, frozen=True, kw_only=True):
    """The file as written (``hypothesis`` and ``load`` still a path or an inline mapping)."""

    title: Name
    owner: Name
    hypothesis: str | dict[str, Any]
    load: str | dict[str, Any]
    blast_radius: BlastRadius
    timeline: Annotated[tuple[Step, ...], Meta(min_length=1, max_length=100)]
    abort: tuple[AbortCondition, ...] = ()
    judgement: Judgement = Judgement()
    recovery_s: Seconds = msgspec.field(default=60.0, name="recovery")
    description: str = ""
    api_version: str = msgspec.field(default="slo-harness/gameday/v1", name="apiVersion")

    def __post_init__(self) -> None:
        if self.api_version != "slo-harness/gameday/v1":
            raise ValueError(f"`apiVersion`: slo-harness/gameday/v1 (got {self.api_version!r})")
        names = [s.name for s in self.timeline]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"`timeline`: unique step names ({', '.join(dupes)} repeated)")


@dataclass(frozen=True, slots=True)
class GameDay:
    """A whole game day, resolved: the SLO and scenario objects, ready to run."""

    path: Path
    spec: GameDayFile
    hypothesis: SloSpec
    scenario: Scenario
    hypothesis_path: Path | None  # None: inline
    scenario_path: Path | None  # None: inline

    @property
    def timeline(self) -> tuple[Step, ...]:
        """The steps, sorted by start."""
        return tuple(sorted(self.spec.timeline, key=lambda s: (s.at_s, s.name)))

    @property
    def duration_s(self) -> float:
        """Baseline start to the end of recovery, seconds (unscaled)."""
        return max(s.end_s for s in self.spec.timeline) + self.spec.recovery_s


# -- loading -------------------------------------------------------------------------------------
_DURATION_FIELDS: Final = ("recovery",)
_STEP_DURATIONS: Final = ("at", "for")


def load_gameday(path: Path) -> GameDay:
    """Read, validate and resolve a game-day file; any problem is a SpecError."""
    name = str(path)
    raw = read_yaml(path)
    spec = convert_spec(_normalise_durations(raw, name), GameDayFile, name)
    _check_blast_radius(spec, name)
    hypothesis, slo_path = _resolve_hypothesis(spec.hypothesis, path)
    scenario, scenario_path = _resolve_load(spec.load, path)
    _check_load_shape(scenario, name)
    return GameDay(path, spec, hypothesis, scenario, slo_path, scenario_path)


def _normalise_durations(raw: object, file: str) -> object:
    """Turn duration strings into seconds at their known places (errors name the field)."""
    if not isinstance(raw, Mapping):
        return raw
    data = dict(raw)
    for key in _DURATION_FIELDS:
        if key in data:
            data[key] = _seconds(data[key], file, f"$.{key}")
    if isinstance(data.get("judgement"), Mapping):
        judgement = dict(data["judgement"])
        for key in ("window", "hold"):
            if key in judgement:
                judgement[key] = _seconds(judgement[key], file, f"$.judgement.{key}")
        data["judgement"] = judgement
    if isinstance(data.get("timeline"), list):
        data["timeline"] = [
            _durations_in(step, _STEP_DURATIONS, file, f"$.timeline[{i}]")
            for i, step in enumerate(data["timeline"])
        ]
    if isinstance(data.get("abort"), list):
        abort = []
        for i, cond in enumerate(data["abort"]):
            cond = _durations_in(cond, ("for",), file, f"$.abort[{i}]")
            if isinstance(cond, Mapping) and isinstance(cond.get("windows"), list):
                cond = dict(cond)
                cond["windows"] = [
                    _seconds(w, file, f"$.abort[{i}].windows[{j}]")
                    for j, w in enumerate(cond["windows"])
                ]
            abort.append(cond)
        data["abort"] = abort
    return data


def _durations_in(item: object, keys: tuple[str, ...], file: str, where: str) -> object:
    if not isinstance(item, Mapping):
        return item
    out = dict(item)
    for key in keys:
        if key in out:
            out[key] = _seconds(out[key], file, f"{where}.{key}")
    return out


def _seconds(value: object, file: str, where: str) -> float:
    try:
        return parse_duration_s(value)
    except ValueError as exc:
        raise SpecError(file, where, str(exc)) from None


def _check_blast_radius(spec: GameDayFile, file: str) -> None:
    allowed = set(spec.blast_radius.targets)
    for i, step in enumerate(spec.timeline):
        touched = step.fault.blast_target
        if touched not in allowed:
            raise SpecError(
                file,
                f"$.timeline[{i}].fault",
                f"a fault inside blast_radius.targets ({', '.join(t.value for t in allowed)}); "
                f"{step.fault.kind} touches {touched.value}",
            )
    limit = spec.blast_radius.max_concurrent_faults
    for i, step in enumerate(spec.timeline):
        # The most faults active at once is reached at some step's start.
        active = sum(1 for s in spec.timeline if s.at_s <= step.at_s < s.end_s)
        if active > limit:
            raise SpecError(
                file,
                f"$.timeline[{i}].at",
                f"at most blast_radius.max_concurrent_faults = {limit} faults active at once "
                f"({active} are active at {step.at_s:g} s)",
            )


def _resolve_hypothesis(value: str | dict[str, Any], path: Path) -> tuple[SloSpec, Path | None]:
    if isinstance(value, str):
        slo_path = (path.parent / value).resolve()
        if not slo_path.is_file():
            raise SpecError(str(path), "$.hypothesis", f"an SLO file (not found: {slo_path})")
        return load_slo(slo_path), slo_path
    try:
        return parse_slo(value, str(path)), None
    except SpecError as exc:
        raise _rerooted(exc, "$.hypothesis") from None


def _resolve_load(value: str | dict[str, Any], path: Path) -> tuple[Scenario, Path | None]:
    if isinstance(value, str):
        scenario_path = (path.parent / value).resolve()
        if not scenario_path.is_file():
            raise SpecError(str(path), "$.load", f"a scenario file (not found: {scenario_path})")
        return load_scenario(scenario_path), scenario_path
    if "slo" in value:
        raise SpecError(str(path), "$.load.slo", "omitted (the hypothesis is the game day's SLO)")
    return convert_spec(value, Scenario, str(path), root="$.load"), None


def _check_load_shape(scenario: Scenario, file: str) -> None:
    """The load runs at one rate throughout: warm-ups, then one steady or soak phase."""
    measured = [p for p in scenario.phases if p.in_verdict]
    if len(measured) != 1 or measured[0].kind.value not in ("steady", "soak"):
        raise SpecError(
            file,
            "$.load",
            "a scenario with warm-up phases and exactly one steady or soak phase (the game day "
            f"stretches it over the whole timeline); got {[p.kind.value for p in measured]}",
        )


def _rerooted(exc: SpecError, root: str) -> SpecError:
    return SpecError(exc.file, root + exc.path[1:], exc.expected)
