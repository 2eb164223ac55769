"""What came back, in the report family: status codes with counts and the first failures of
each kind (body snippets), per phase and endpoint, in report.json (``phases[].endpoints[]
.responses``, since schema 1.5), summary.md and report.html.

Snippets were masked where they were recorded (``harness.measure.mask_snippet``); the writers'
PAN guard checks every artifact once more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import msgspec

from harness.measure import EndpointResponses, RunResult
from harness.report.view import Cell, Table

__all__ = [
    "FailureDoc",
    "ResponsesDoc",
    "responses_doc",
    "responses_md",
    "responses_table",
    "secrets_line",
]


class FailureDoc(msgspec.Struct, frozen=True, kw_only=True):
    """One kind of failure: ``HTTP 404``, ``HTTP 200: body check: ...``, ``timeout``, ..."""

    kind: str
    outcome: Annotated[str, msgspec.Meta(pattern="^(failed|shed)$")]
    count: Annotated[int, msgspec.Meta(ge=1)]
    samples: Annotated[
        list[str], msgspec.Meta(description="first bodies or error messages, PAN-masked")
    ]


class ResponsesDoc(msgspec.Struct, frozen=True, kw_only=True):
    """Status codes seen (HTTP status, or timeout / connect_failed / connection_lost /
    protocol_error for requests without a response) with counts, and the failures by kind."""

    statuses: dict[str, int]
    failures: list[FailureDoc]


def _find(result: RunResult, phase: str, endpoint: str) -> EndpointResponses | None:
    for r in result.responses:
        if r.phase == phase and r.endpoint == endpoint:
            return r
    return None


def responses_doc(result: RunResult, phase: str, endpoint: str) -> ResponsesDoc | None:
    """The ``responses`` of one endpoint in one phase (None when the run did not collect them)."""
    r = _find(result, phase, endpoint)
    if r is None:
        return None
    return ResponsesDoc(
        statuses=dict(r.statuses),
        failures=[
            FailureDoc(kind=f.kind, outcome=f.outcome.value, count=f.count, samples=list(f.samples))
            for f in r.failures
        ],
    )


def _ordered(result: RunResult) -> list[EndpointResponses]:
    order = {p.name: i for i, p in enumerate(result.phases)}
    return sorted(result.responses, key=lambda r: (order.get(r.phase, len(order)), r.endpoint))


def _statuses(r: EndpointResponses) -> str:
    return ", ".join(f"{k}: {n:,}" for k, n in r.statuses.items())


def responses_md(result: RunResult) -> list[str]:
    """The summary.md section (empty when nothing was collected)."""
    from harness.report.markdown import md_cell  # markdown imports this module

    rows = _ordered(result)
    if not rows:
        return []
    lines = ["", "### Responses", "", "Status codes per phase and endpoint.", ""]
    lines += ["| Phase | Endpoint | Statuses |", "|---|---|---|"]
    lines += [f"| {md_cell(r.phase)} | {md_cell(r.endpoint)} | {_statuses(r)} |" for r in rows]
    failures = [(r, f) for r in rows for f in r.failures]
    if failures:
        lines += [
            "",
            "Failures by kind (first bodies or messages, long digit runs masked):",
            "",
        ]
        for r, f in failures:
            lines.append(
                f"- {md_cell(r.phase)} / {md_cell(r.endpoint)}: {md_cell(f.kind)} "
                f"({f.count:,} {f.outcome.value})"
            )
            lines += [f"  - {md_cell(s)}" for s in f.samples if s]
    return lines


def responses_table(result: RunResult) -> Table | None:
    """The report.html table (None when nothing was collected)."""
    rows: list[Sequence[Cell]] = []
    for r in _ordered(result):
        rows.append([Cell(r.phase), Cell(r.endpoint), Cell(_statuses(r)), Cell("")])
        for f in r.failures:
            samples = " | ".join(s for s in f.samples if s)
            kind = f"{f.kind}: {f.count:,} {f.outcome.value}"
            rows.append([Cell(""), Cell(""), Cell(kind), Cell(samples, "reason")])
    if not rows:
        return None
    return Table(
        ("Phase", "Endpoint", "Statuses / failure kind", "First bodies or messages"),
        rows,
        "Status codes per phase and endpoint (timeout, connect_failed, ... for requests without a "
        "response), then each kind of failure with its first bodies; card-number-like digit runs "
        "are masked.",
    )


def secrets_line(result: RunResult) -> str:
    """``env:RISK_TOKEN, file:/x`` or empty: which secrets the headers used (never values)."""
    return ", ".join(result.secrets_used)
