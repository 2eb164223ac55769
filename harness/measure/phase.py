"""What the recorder needs to know about a phase to turn raw counts into a :class:`PhaseResult`.

The scenario (``harness.spec.scenario``) produces these from its schedule; the recorder never
imports the spec, so measurement stays usable with any load shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.measure.result import PhaseKind

__all__ = ["PhaseMeta"]


@dataclass(frozen=True, slots=True)
class PhaseMeta:
    """One scheduled phase: name, shape, whether it counts, where it sits (seconds from run start)
    and the mean arrival rate the schedule intended over it (requests/s)."""

    name: str
    kind: PhaseKind
    in_verdict: bool
    start_s: float
    duration_s: float
    offered_rps: float

    @property
    def end_s(self) -> float:
        """Offset of the phase's end from the run start, seconds."""
        return self.start_s + self.duration_s
