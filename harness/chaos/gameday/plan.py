"""A game day laid onto the run's clock: warm-up, then baseline, steps and recovery, time-scaled.

Times in a game-day file are offsets from the end of the scenario's warm-up (the start of the
measured baseline); the run's clock (interval indices, ``RunResult`` offsets) starts at the
schedule's t = 0, warm-up included. ``run_s = warmup_s + time_scale * file_s``.

``--time-scale F`` multiplies every duration of the game day: step starts and lengths, recovery,
the judgement window and hold, and the abort conditions' durations and burn windows, so a
10-minute game day at 0.1 runs in one minute with the same shape. Durations that would fall below
one measurement interval are raised to one interval (nothing is judged on less than one interval).
Abort conditions are scaled too, but never below :data:`MIN_ABORT_INTERVALS` intervals (or their
unscaled length when shorter): a 1 s "breach that lasts" is one noisy second, not a condition.
The load's rate is not scaled.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

from harness.spec import AbortCondition, BurnRateAbort, FaultSpec, GameDay, Objective

__all__ = ["MIN_TIME_SCALE", "Plan", "PlannedStep", "make_plan"]

MIN_TIME_SCALE: Final = 0.001
#: Scaled abort durations and burn windows stay at least this many intervals long.
MIN_ABORT_INTERVALS: Final = 3


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step on the run's clock."""

    name: str
    fault: FaultSpec
    start_s: float  # run offset of the injection
    end_s: float  # run offset of the rollback
    expect: tuple[Objective, ...]
    degraded_allowed: bool

    @property
    def duration_s(self) -> float:
        """How long the fault is meant to be active."""
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class Plan:
    """A whole game day on the run's clock."""

    title: str
    time_scale: float
    interval_s: float
    warmup_s: float
    steps: tuple[PlannedStep, ...]
    end_s: float  # run offset of the end of the recovery period (the load stops there)
    aborts: tuple[AbortCondition, ...]
    window_s: float  # rolling window for judging the hypothesis
    hold_s: float  # the hypothesis must hold this long to count as recovered

    @property
    def baseline_end_s(self) -> float:
        """Run offset of the first injection."""
        return min(s.start_s for s in self.steps)

    @property
    def last_rollback_s(self) -> float:
        """Run offset of the last planned rollback."""
        return max(s.end_s for s in self.steps)

    @property
    def gameday_s(self) -> float:
        """Baseline start to recovery end, seconds (what the scenario's main phase must last)."""
        return self.end_s - self.warmup_s

    def window_intervals(self, seconds: float) -> int:
        """Intervals spanned by ``seconds`` (rounded up, at least one)."""
        return max(1, math.ceil(seconds / self.interval_s - 1e-9))


def make_plan(gameday: GameDay, time_scale: float = 1.0) -> Plan:
    """Lay ``gameday`` onto the run's clock, every duration multiplied by ``time_scale``."""
    if not (math.isfinite(time_scale) and time_scale >= MIN_TIME_SCALE):
        raise ValueError(f"time scale must be a number >= {MIN_TIME_SCALE}, got {time_scale}")
    scenario = gameday.scenario
    interval = scenario.interval_s
    warmup = sum(p.length_s for p in scenario.phases if not p.in_verdict)

    def scaled(seconds: float) -> float:
        return max(seconds * time_scale, interval)

    steps = tuple(
        PlannedStep(
            name=s.name,
            fault=s.fault,
            start_s=warmup + s.at_s * time_scale,
            end_s=warmup + s.at_s * time_scale + scaled(s.for_s),
            expect=s.expect,
            degraded_allowed=s.degraded_allowed,
        )
        for s in gameday.timeline
    )
    last = max(s.end_s for s in steps)
    spec = gameday.spec
    return Plan(
        title=spec.title,
        time_scale=time_scale,
        interval_s=interval,
        warmup_s=warmup,
        steps=steps,
        end_s=last + scaled(spec.recovery_s),
        aborts=tuple(_scaled_abort(a, _abort_scaler(time_scale, interval)) for a in spec.abort),
        window_s=scaled(spec.judgement.window_s),
        hold_s=scaled(spec.judgement.hold_s),
    )


def _abort_scaler(time_scale: float, interval: float) -> Callable[[float], float]:
    def scaled(seconds: float) -> float:
        floor = min(seconds, MIN_ABORT_INTERVALS * interval)
        return max(seconds * time_scale, floor, interval)

    return scaled


def _scaled_abort(condition: AbortCondition, scaled: Callable[[float], float]) -> AbortCondition:
    if isinstance(condition, BurnRateAbort):
        return msgspec.structs.replace(
            condition, windows_s=tuple(scaled(w) for w in condition.windows_s)
        )
    return msgspec.structs.replace(condition, for_s=scaled(condition.for_s))
