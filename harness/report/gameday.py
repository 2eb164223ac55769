"""The game-day part of a report: ``report.json``'s ``gameday`` section, the per-step table and
``journal.json`` (rendering only: every number comes from the journal, computed in
:mod:`harness.chaos.gameday`).

The per-step table, the same in summary.md and report.html: step, fault, status, injected and
rolled back (run offsets, s), held, time to detect, time to recover, error and latency budget
burned (share of the game day's budget), degraded decisions (the service's own count while the
fault was on, "not reported" when it could not be read: never a made-up 0) and, for a fault that
kills (a worker or the whole service), the seconds until the target was ready again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec

from harness.chaos import Journal, StepDoc

__all__ = [
    "JOURNAL_FILE",
    "GameDayDoc",
    "GameDayStepDoc",
    "gameday_doc",
    "gameday_summary",
    "render_journal",
    "step_headers",
    "step_rows",
]

JOURNAL_FILE = "journal.json"

Seconds = Annotated[float | None, msgspec.Meta(description="seconds; null: not applicable")]
Share = Annotated[
    float | None, msgspec.Meta(description="share of the game day's budget (1.0 = all of it)")
]


class GameDayStepDoc(msgspec.Struct, frozen=True, kw_only=True):
    """One step of a game day (details in journal.json)."""

    name: str
    kind: str
    fault: str
    status: Annotated[str, msgspec.Meta(description="succeeded, failed, cut_short or skipped")]
    injected_at_s: Seconds
    rolled_back_at_s: Seconds
    held: Annotated[bool | None, msgspec.Meta(description="expectations held; null: no data")]
    detected_after_s: Seconds
    recovered_after_s: Seconds
    error_budget_burned: Share
    latency_budget_burned: Share
    degraded_allowed: bool = False
    degraded_decisions: Annotated[
        int | None,
        msgspec.Meta(
            description="decisions the service scored degraded (without velocity features) "
            "between the readings before the injection and one judgement window after the "
            "rollback (since 1.7); null: not reported"
        ),
    ] = None
    decisions_scored: Annotated[
        int | None,
        msgspec.Meta(description="all decisions between the same readings; null: not reported"),
    ] = None
    restored_after_s: Annotated[
        float | None,
        msgspec.Meta(
            description="seconds from a kill until the target (worker pool or service) was "
            "ready again (since 1.7); null: not a kill"
        ),
    ] = None


class GameDayDoc(msgspec.Struct, frozen=True, kw_only=True):
    """The game day this run was (since schema 1.3; null for plain runs)."""

    title: str
    owner: str
    status: Annotated[str, msgspec.Meta(description="completed, failed, aborted or interrupted")]
    deviated: bool
    reason: str | None
    time_scale: float
    steady_before: bool | None
    steady_during: bool | None
    steady_after: bool | None
    abort_tripped: str | None
    steps: list[GameDayStepDoc]
    audit_intact: Annotated[
        bool | None,
        msgspec.Meta(
            description="the embedded service's audit trail verified intact after the game day "
            "(since 1.7); null: --target (not the harness's service)"
        ),
    ] = None


def _held(journal: Journal, key: str) -> bool | None:
    state = journal.steady_states.get(key)
    return None if state is None else state.held


def gameday_doc(journal: Journal) -> GameDayDoc:
    """The report.json section of ``journal``."""
    return GameDayDoc(
        title=journal.title,
        owner=journal.owner,
        status=journal.status.value,
        deviated=journal.deviated,
        reason=journal.reason,
        time_scale=journal.time_scale,
        steady_before=_held(journal, "before"),
        steady_during=_held(journal, "during"),
        steady_after=_held(journal, "after"),
        abort_tripped=journal.abort.tripped,
        audit_intact=None if journal.audit is None else journal.audit.intact,
        steps=[
            GameDayStepDoc(
                name=s.name,
                kind=s.kind,
                fault=s.fault,
                status=s.status.value,
                injected_at_s=s.injected_at_s,
                rolled_back_at_s=s.rolled_back_at_s,
                held=s.held,
                detected_after_s=s.detected_after_s,
                recovered_after_s=s.recovered_after_s,
                error_budget_burned=s.error_budget_burned,
                latency_budget_burned=s.latency_budget_burned,
                degraded_allowed=s.degraded_allowed,
                degraded_decisions=s.degraded_decisions,
                decisions_scored=s.decisions_scored,
                restored_after_s=s.restored_after_s,
            )
            for s in journal.steps
        ],
    )


def render_journal(journal: Journal) -> bytes:
    """``journal.json`` bytes (indented, stable key order)."""
    return msgspec.json.format(msgspec.json.encode(journal), indent=2) + b"\n"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _yes(value: bool | None) -> str:
    return "no data" if value is None else ("held" if value else "NOT HELD")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def step_headers() -> tuple[str, ...]:
    """Column titles of the per-step table."""
    return (
        "Step",
        "Fault",
        "Status",
        "Injected s",
        "Rolled back s",
        "Expectations",
        "Detected after s",
        "Recovered after s",
        "Error budget",
        "Latency budget",
        "Degraded decisions",
        "Back up after s",
    )


def step_rows(steps: Sequence[StepDoc]) -> list[tuple[str, ...]]:
    """The per-step table's rows."""
    return [
        (
            s.name,
            s.fault,
            s.status.value,
            _s(s.injected_at_s),
            _s(s.rolled_back_at_s),
            _yes(s.held),
            _s(s.detected_after_s),
            _s(s.recovered_after_s),
            _share(s.error_budget_burned),
            _share(s.latency_budget_burned),
            _degraded(s),
            _s(s.restored_after_s),
        )
        for s in steps
    ]


def _degraded(step: StepDoc) -> str:
    """``3 of 1,200 (allowed)``, ``0 of 1,200``, ``12 of 1,200 (NOT ALLOWED)``, ``not reported``."""
    if step.degraded_decisions is None:
        return "not reported"
    n = step.degraded_decisions
    text = f"{n:,}" if step.decisions_scored is None else f"{n:,} of {step.decisions_scored:,}"
    if step.degraded_allowed:
        return f"{text} (allowed)"
    return f"{text} (NOT ALLOWED)" if n else text


def gameday_summary(journal: Journal) -> list[str]:
    """Sentences above the table: outcome, steady states, abort, rollbacks."""
    lines = [
        f"Game day **{journal.title}** (owner {journal.owner}): {journal.status.value}"
        + (", deviated from the hypothesis" if journal.deviated else ", hypothesis held")
        + (f" (time scale {journal.time_scale:g})" if journal.time_scale != 1 else "")
        + ".",
        "Steady state before / during / after the faults: "
        + " / ".join(_yes(_held(journal, k)) for k in ("before", "during", "after"))
        + ".",
    ]
    if journal.reason:
        lines.append(f"Stopped: {journal.reason}.")
    if journal.audit is not None:
        audit = journal.audit
        lines.append(
            f"Audit trail of the embedded service: {audit.records:,} records in "
            f"{audit.streams} stream(s), "
            + ("intact, every decision reproducible." if audit.intact else "NOT INTACT: ")
            + ("" if audit.intact else "; ".join(audit.problems) + ".")
        )
    ok = sum(1 for r in journal.rollbacks if r.status.value == "succeeded")
    lines.append(
        f"Rollbacks: {ok} of {len(journal.rollbacks)} verified gone (details in journal.json)."
    )
    return lines
