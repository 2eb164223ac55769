"""The live game-day dashboard: per-second numbers against the SLO, active faults, abort status.

On a terminal, a rich panel redrawn once per interval from the load's observer thread (never from
the scheduler's loop); otherwise a plain line every :data:`LINE_EVERY_S`, so CI logs stay
readable. Both write to stderr (stdout carries the command's result). Shown: the run clock and the
phase, offered and completed rate, p50 / p99 of the last interval against the hypothesis'
latency threshold, errors, every step (pending / active with time left / rolled back), and each
abort condition's status.
"""

from __future__ import annotations

import time
from typing import Final, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.chaos.gameday.controller import GameDayController
from harness.chaos.gameday.guard import RollbackStatus

__all__ = ["LINE_EVERY_S", "LineView", "RichView", "step_states"]

LINE_EVERY_S: Final = 5.0


def step_states(ctl: GameDayController) -> list[tuple[str, str, str]]:
    """(step name, fault summary, state) for each step, e.g. ``active, 12 s left``."""
    rows = []
    for item in ctl.faults:
        step = item.step
        record = ctl.record_of(step.name)
        if record is None:
            state = f"in {max(step.start_s - ctl.elapsed_s, 0):.0f} s"
        elif record.inject_error is not None:
            state = "FAILED to inject"
        elif record.status is RollbackStatus.FAILED:
            state = "ROLLBACK FAILED"
        elif record.active:
            state = f"ACTIVE, {max(step.end_s - ctl.elapsed_s, 0):.0f} s left"
        else:
            state = "rolled back, verified"
        rows.append((step.name, step.fault.summary, state))
    return rows


def _numbers(ctl: GameDayController) -> tuple[str, str, str, str, str]:
    if not ctl.samples:
        return ("-", "-", "-", "-", "-")
    s = ctl.samples[-1]
    p50, p99 = s.percentile_ms(50.0), s.percentile_ms(99.0)
    ratio = s.error_ratio
    return (
        f"{s.offered / s.length_s:.0f}",
        f"{s.completed_rps:.0f}",
        "-" if p50 is None else f"{p50:.1f}",
        "-" if p99 is None else f"{p99:.1f}",
        "-" if ratio is None else f"{ratio:.2%}",
    )


class RichView:
    """A rich live panel (terminal)."""

    def __init__(self, console: Console, latency_slo_ms: float | None) -> None:
        self._slo = latency_slo_ms
        self._live = Live(console=console, auto_refresh=False, transient=False)
        self._live.start()

    def update(self, ctl: GameDayController) -> None:
        """Redraw."""
        plan = ctl.plan
        title = f"game day: {plan.title}  {ctl.elapsed_s:.0f}/{plan.end_s:.0f} s"
        numbers = Table(title=title, box=None)
        for col in ("phase", "offered/s", "done/s", "p50 ms", "p99 ms", "errors"):
            numbers.add_column(col, justify="right")
        offered, done, p50, p99, errors = _numbers(ctl)
        slo = self._slo
        p99_text = Text(p99, style="bold red" if slo and p99 != "-" and float(p99) >= slo else "")
        phase = ctl.samples[-1].phase if ctl.samples else "starting"
        numbers.add_row(phase, offered, done, p50, p99_text, errors)
        if slo:
            numbers.caption = f"p99 SLO < {slo:g} ms (intended clock, last second)"
        steps = Table(box=None)
        for col in ("step", "fault", "state"):
            steps.add_column(col)
        for name, summary, state in step_states(ctl):
            steps.add_row(
                name, summary, Text(state, style="bold yellow" if "ACTIVE" in state else "")
            )
        aborts = Table(box=None)
        aborts.add_column("abort condition")
        aborts.add_column("status")
        aborts.add_column("now")
        for st in ctl.monitor.states:
            style = "bold red" if st.status.value in ("tripped", "breaching") else ""
            aborts.add_row(st.label, Text(st.status.value, style=style), st.observed)
        parts: list[Table | Text] = [numbers, steps]
        if ctl.monitor.states:
            parts.append(aborts)
        if ctl.stop_reason:
            parts.append(Text(f"STOPPING: {ctl.stop_reason}", style="bold red"))
        self._live.update(Group(*parts), refresh=True)

    def close(self) -> None:
        """Leave the last frame on screen."""
        self._live.stop()


class LineView:
    """One plain line every :data:`LINE_EVERY_S` seconds, plus every state change of a step."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0
        self._states: dict[str, str] = {}

    def update(self, ctl: GameDayController) -> None:
        """Print when due or when a step changed state."""
        for name, summary, state in step_states(ctl):
            kind = state.split(",")[0]
            if self._states.get(name) != kind:
                self._states[name] = kind
                if not kind.startswith("in "):
                    print(f"[{ctl.elapsed_s:6.1f} s] {name}: {summary}: {state}", file=self._stream)
        now = time.monotonic()
        if now - self._last >= LINE_EVERY_S and ctl.samples:
            self._last = now
            offered, done, p50, p99, errors = _numbers(ctl)
            print(
                f"[{ctl.elapsed_s:6.1f}/{ctl.plan.end_s:.0f} s] offered {offered}/s done {done}/s "
                f"p50 {p50} ms p99 {p99} ms errors {errors}",
                file=self._stream,
                flush=True,
            )
        if ctl.stop_reason and self._states.get("\0stop") is None:
            self._states["\0stop"] = "shown"
            print(f"[{ctl.elapsed_s:6.1f} s] stopping: {ctl.stop_reason}", file=self._stream)

    def close(self) -> None:
        """Flush."""
        self._stream.flush()
