"""The phases of a scenario and the arrival-rate schedule they make.

Each phase kind is its own Struct (a tagged union on ``kind``), so a ramp without ``to_rate`` or
a steady phase with a ``to_rate`` is reported at its exact field path. Time is seconds from the
start of the run; a phase is a sequence of :class:`Segment` pieces of a piecewise-linear arrival
*rate* r(t), and :class:`ScheduledPhase` places it on the run's time axis. Turning the rate into
intended send times is the load schedule's job (``harness.load``: ``intended_times``,
``arrivals``). Split from :mod:`harness.spec.scenario` (the file, its requests and defaults), which
re-exports every name here.
"""

from __future__ import annotations

from typing import Annotated, Final

from msgspec import Meta, Struct

from harness.measure import PhaseKind, PhaseMeta

__all__ = [
    "MAX_DURATION_S",
    "MAX_RATE",
    "Phase",
    "PhaseBase",
    "RampPhase",
    "ScheduledPhase",
    "Segment",
    "SoakPhase",
    "SpikePhase",
    "SteadyPhase",
    "Step",
    "StepPhase",
    "WarmupPhase",
]

#: Upper bounds that catch typos (an extra zero) rather than express capacity.
MAX_RATE: Final = 1_000_000.0
MAX_DURATION_S: Final = 7 * 24 * 3600.0

Rate = Annotated[float, Meta(gt=0, le=MAX_RATE)]
RateOrZero = Annotated[float, Meta(ge=0, le=MAX_RATE)]
Duration = Annotated[float, Meta(gt=0, le=MAX_DURATION_S)]
Offset = Annotated[float, Meta(ge=0, le=MAX_DURATION_S)]
Share = Annotated[float, Meta(ge=0, le=1)]
Name = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Spec(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Common config of every spec Struct."""


class Segment(Struct, frozen=True):
    """A piece of the rate schedule: the rate goes linearly from ``r0`` to ``r1`` over
    ``duration_s`` seconds (``r0 == r1`` for a constant rate)."""

    duration_s: float
    r0: float
    r1: float

    @property
    def expected(self) -> float:
        """Mean number of arrivals in the segment (the integral of the rate)."""
        return 0.5 * (self.r0 + self.r1) * self.duration_s


# -- phases -------------------------------------------------------------------------------------
class PhaseBase(_Spec, frozen=True, tag_field="kind"):
    """Fields and behaviour shared by every phase kind."""

    name: Name

    @property
    def kind(self) -> PhaseKind:
        """The phase's kind (the YAML ``kind:`` tag)."""
        tag = self.__struct_config__.tag
        assert isinstance(tag, str)
        return PhaseKind(tag)

    @property
    def in_verdict(self) -> bool:
        """Warm-up phases never count towards a verdict."""
        return self.kind is not PhaseKind.WARMUP

    @property
    def length_s(self) -> float:
        """Phase length in seconds."""
        return sum(s.duration_s for s in self.segments())

    @property
    def mean_rate(self) -> float:
        """Mean intended arrival rate over the phase (requests/s)."""
        return sum(s.expected for s in self.segments()) / self.length_s

    @property
    def peak_rate(self) -> float:
        """Highest intended rate anywhere in the phase."""
        return max(max(s.r0, s.r1) for s in self.segments())

    def segments(self) -> tuple[Segment, ...]:
        """The phase's rate schedule as linear pieces."""
        raise NotImplementedError

    def rate_at(self, t: float) -> float:
        """Intended arrival rate at ``t`` seconds into the phase (0 outside it)."""
        if t < 0:
            return 0.0
        for seg in self.segments():
            if t < seg.duration_s:
                return seg.r0 + (seg.r1 - seg.r0) * t / seg.duration_s
            t -= seg.duration_s
        return 0.0


class _ConstantPhase(PhaseBase, frozen=True):
    rate: Rate
    duration_s: Duration

    def segments(self) -> tuple[Segment, ...]:
        return (Segment(self.duration_s, self.rate, self.rate),)


class WarmupPhase(_ConstantPhase, frozen=True, tag="warmup"):
    """Constant rate, excluded from verdicts (JIT, caches, connection pools)."""


class SteadyPhase(_ConstantPhase, frozen=True, tag="steady"):
    """Constant rate R for T seconds: the CI gate."""


class SoakPhase(_ConstantPhase, frozen=True, tag="soak"):
    """Constant moderate rate for a long time: leaks, GC, log rotation, drift."""


class RampPhase(PhaseBase, frozen=True, tag="ramp"):
    """Rate rising (or falling) linearly from ``from_rate`` to ``to_rate``: finds the knee."""

    from_rate: RateOrZero
    to_rate: RateOrZero
    duration_s: Duration

    def __post_init__(self) -> None:
        if self.from_rate == 0 and self.to_rate == 0:
            raise ValueError("from_rate and to_rate: expected at least one of them > 0")

    def segments(self) -> tuple[Segment, ...]:
        return (Segment(self.duration_s, self.from_rate, self.to_rate),)


class Step(_Spec, frozen=True):
    """One stair of a step phase."""

    rate: Rate
    duration_s: Duration


class StepPhase(PhaseBase, frozen=True, tag="step"):
    """A staircase of constant rates; the phase lasts the sum of its steps."""

    steps: Annotated[tuple[Step, ...], Meta(min_length=1, max_length=1000)]

    def segments(self) -> tuple[Segment, ...]:
        return tuple(Segment(s.duration_s, s.rate, s.rate) for s in self.steps)


class SpikePhase(PhaseBase, frozen=True, tag="spike"):
    """``base_rate`` with a burst at ``spike_rate`` from ``spike_start_s`` for
    ``spike_duration_s`` (offsets within the phase)."""

    base_rate: RateOrZero
    spike_rate: Rate
    spike_start_s: Offset
    spike_duration_s: Duration
    duration_s: Duration

    def __post_init__(self) -> None:
        if self.spike_start_s + self.spike_duration_s > self.duration_s:
            raise ValueError(
                "spike_start_s + spike_duration_s: expected to end within duration_s "
                f"({self.spike_start_s} + {self.spike_duration_s} > {self.duration_s})"
            )

    def segments(self) -> tuple[Segment, ...]:
        tail = self.duration_s - self.spike_start_s - self.spike_duration_s
        pieces = (
            Segment(self.spike_start_s, self.base_rate, self.base_rate),
            Segment(self.spike_duration_s, self.spike_rate, self.spike_rate),
            Segment(tail, self.base_rate, self.base_rate),
        )
        return tuple(p for p in pieces if p.duration_s > 0)


Phase = WarmupPhase | SteadyPhase | RampPhase | StepPhase | SpikePhase | SoakPhase


class ScheduledPhase(Struct, frozen=True):
    """A phase placed on the run's time axis."""

    phase: Phase
    start_s: float

    @property
    def end_s(self) -> float:
        """Offset of the phase's end from the run start."""
        return self.start_s + self.phase.length_s

    def meta(self) -> PhaseMeta:
        """What the recorder needs to build this phase's result."""
        p = self.phase
        return PhaseMeta(p.name, p.kind, p.in_verdict, self.start_s, p.length_s, p.mean_rate)
