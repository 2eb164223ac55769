"""``--rate``/``--duration``/``--target`` applied to a scenario, or a UsageError naming the flag.

An override is command-line input, so a bad one is a usage error (exit 2) before any load, never
a ``ValueError`` that surfaces as "internal error" (CI reads exit 3 as "retry"). The message names
the flag and its value, the scenario file and the field the override broke, and what was
expected: ``--duration 1: scenarios/spike.yaml: $.phases[1]: spike_start_s + ...``. Non-finite
numbers (NaN, infinity) are refused up front: NaN compares false with every bound.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Final

import msgspec

from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.spec.phases import Phase
    from harness.spec.scenario import Scenario

__all__ = ["apply_overrides"]

_AT_PATH: Final = re.compile(r"^(?P<msg>.*?) - at `(?P<path>[^`]*)`$", re.DOTALL)
_FIELD_PREFIX: Final = re.compile(r"^(?P<field>[a-z_]+): (?P<rest>.*)$", re.DOTALL)
_FIELD_FLAG: Final = (("rate", "--rate"), ("duration", "--duration"), ("spike", "--duration"))


def apply_overrides(
    scenario: Scenario,
    *,
    rate: float | None,
    duration_s: float | None,
    target: str | None,
    file: str,
) -> Scenario:
    """``scenario`` with the main phase's rate/duration and the target replaced (see the module)."""
    from harness.spec.scenario import Scenario

    given: dict[str, object] = {
        flag: value
        for flag, value in (("--rate", rate), ("--duration", duration_s), ("--target", target))
        if value is not None
    }
    for flag in ("--rate", "--duration"):
        value = given.get(flag)
        if value is not None and not (isinstance(value, float | int) and math.isfinite(value)):
            raise UsageError(f"{flag} {value}: expected a finite number > 0")
    index = next(i for i, p in enumerate(scenario.phases) if p.name == scenario.main.name)
    try:
        main = scenario.main
        where = f"$.phases[{index}]"
        if rate is not None:
            main = _override_rate(main, rate)
        if duration_s is not None:
            main = _override_duration(main, duration_s)
        where = "$"
        phases = tuple(main if p.name == main.name else p for p in scenario.phases)
        replaced = msgspec.structs.replace(
            scenario, phases=phases, target=scenario.target if target is None else target
        )
        converted: Scenario = msgspec.convert(msgspec.to_builtins(replaced), Scenario, strict=True)
    except msgspec.ValidationError as exc:
        match = _AT_PATH.match(str(exc))
        path, problem = (match["path"], match["msg"]) if match else ("$", str(exc))
        raise UsageError(f"{_flags(given, path + problem)}: {file}: {path}: {problem}") from None
    except (ValueError, TypeError) as exc:  # a phase's or the scenario's own __post_init__ check
        problem = str(exc)
        if (field := _FIELD_PREFIX.match(problem)) is not None:  # "target: expected ..."
            where, problem = f"{where}.{field['field']}", field["rest"]
        raise UsageError(f"{_flags(given, where + problem)}: {file}: {where}: {problem}") from None
    return converted


def _flags(given: dict[str, object], where: str) -> str:
    """The flag(s) to blame: the one given, or the one whose field the problem names."""
    if len(given) > 1:
        named = {flag for word, flag in _FIELD_FLAG if word in where and flag in given}
        if "target" in where and "--target" in given:
            named = {"--target"}
        if named:
            given = {flag: given[flag] for flag in given if flag in named}
    return " ".join(f"{flag} {value}" for flag, value in given.items())


def _override_rate(p: Phase, rate: float) -> Phase:
    from harness.spec.phases import RampPhase, SpikePhase, _ConstantPhase

    if isinstance(p, _ConstantPhase):
        return msgspec.structs.replace(p, rate=rate)
    if isinstance(p, RampPhase):
        return msgspec.structs.replace(p, to_rate=rate)
    if isinstance(p, SpikePhase):
        return msgspec.structs.replace(p, spike_rate=rate)
    factor = rate / p.peak_rate
    steps = tuple(msgspec.structs.replace(s, rate=s.rate * factor) for s in p.steps)
    return msgspec.structs.replace(p, steps=steps)


def _override_duration(p: Phase, duration_s: float) -> Phase:
    from harness.spec.phases import StepPhase

    if isinstance(p, StepPhase):
        factor = duration_s / p.length_s
        steps = tuple(msgspec.structs.replace(s, duration_s=s.duration_s * factor) for s in p.steps)
        return msgspec.structs.replace(p, steps=steps)
    return msgspec.structs.replace(p, duration_s=duration_s)
