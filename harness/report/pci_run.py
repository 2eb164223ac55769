"""The PCI section of a run report (``run --netpol``): summary.md lines and report.html tables.

``harness.netpol`` computed everything (the boundary verdict, the evidence bundle with its
requirement statuses); this module only lays it out. report.json carries the section verbatim
(``ReportDoc.pci``), so the manifest covers it like every other part of the run.

What an assessor reads first: the boundary verdict and its rounds during the load (UTC time,
positive control, how many other sources were denied), then the PCI DSS requirement table
(1.2.1, 1.2.5, 1.3.1, 1.3.2, 1.4.x, 11.4.5, 11.4.6), then the discrepancies, the expectation
violations and lints; report.html adds every probe with its timestamp and tries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.netpol import BoundaryStatus, PciRunSection, ProbeRun, Status
from harness.report.markdown import md_cell
from harness.report.view import Cell, Table

__all__ = ["PciView", "pci_summary_md", "pci_view"]

_STATUS_TEXT = {Status.MET: "met", Status.NOT_MET: "NOT MET", Status.NOT_ASSESSED: "not assessed"}
_STATUS_CSS = {Status.MET: "pass", Status.NOT_MET: "fail", Status.NOT_ASSESSED: "insufficient"}
_BOUNDARY_CSS = {
    BoundaryStatus.PASS: "pass",
    BoundaryStatus.FAIL: "fail",
    BoundaryStatus.NOT_VERIFIED: "invalid",
}


def _headline(section: PciRunSection) -> str:
    b = section.boundary
    return (
        f"load path {b.gateway} -> {b.scorer} TCP/{b.port}, lab {b.lab}, "
        f"{len(b.rounds)} probe rounds during the load"
    )


def pci_summary_md(section: PciRunSection) -> list[str]:
    """The ``## PCI boundary`` part of summary.md."""
    b, ev = section.boundary, section.evidence
    lines = [
        "",
        f"## PCI boundary verdict: **[{b.status.value.upper()}]**",
        "",
        md_cell(_headline(section)) + ".",
        "",
        *[f"- {md_cell(r)}" for r in b.reasons[:20]],
    ]
    if len(b.reasons) > 20:
        lines.append(f"- ... and {len(b.reasons) - 20} more (report.json)")
    lines += ["", "| Round | UTC | Control | Denied | Wrong |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.round} | {r.at} | {r.control.value} | {r.denied} | {len(r.wrong)} |"
        for r in b.rounds
    ]
    lines += ["", "### PCI DSS requirements", ""]
    lines += ["| Requirement | Status | Basis |", "|---|---|---|"]
    lines += [
        f"| {md_cell(q.id)} {md_cell(q.title)} | {_STATUS_TEXT[q.status]} | {md_cell(q.basis)} |"
        for q in ev.requirements
    ]
    return lines


@dataclass(frozen=True, slots=True)
class PciView:
    """The tables report.html shows for the PCI section."""

    verdict: str
    verdict_css: str
    headline: str
    reasons: Sequence[str]
    rounds: Table
    requirements: Table
    lints: Table
    probes: Table


def _probes(runs: Sequence[ProbeRun]) -> Table:
    rows = []
    for run in runs:
        for r in ((run.control,) if run.control else ()) + run.results:
            first = r.attempts[0].at if r.attempts else ""
            mark = {True: "as predicted", False: "WRONG", None: "no value"}[r.correct]
            rows.append(
                [
                    Cell(run.method),
                    Cell(first),
                    Cell(f"{r.from_} -> {r.to}"),
                    Cell(f"{r.protocol}/{r.port}"),
                    Cell("open" if r.predicted else "blocked"),
                    Cell(r.observed.value),
                    Cell(str(r.tries), "num"),
                    Cell(mark, "" if r.correct is not False else "badge fail"),
                ]
            )
    return Table(
        ("Run", "UTC", "Flow", "Port", "Predicted", "Observed", "Tries", ""),
        rows,
        "Every probe: a fresh TCP connect (UDP: an echo) from the source's namespace; the first "
        "row of each run is its positive control.",
    )


def pci_view(section: PciRunSection) -> PciView:
    """The PCI section's view model."""
    b, ev = section.boundary, section.evidence
    rounds = Table(
        ("Round", "UTC", "Positive control", "Denied", "Wrong"),
        [
            [
                Cell(str(r.round)),
                Cell(r.at),
                Cell(r.control.value),
                Cell(str(r.denied), "num"),
                Cell("; ".join(r.wrong) or "0"),
            ]
            for r in b.rounds
        ],
        "Probes into the scorer's port while the load ran, from every other lab namespace.",
    )
    requirements = Table(
        ("Requirement", "Status", "Basis"),
        [
            [
                Cell(f"{q.id} {q.title}"),
                Cell(_STATUS_TEXT[q.status], f"badge {_STATUS_CSS[q.status]}"),
                Cell(q.basis + ("".join(f"; {i}" for i in q.items[:5]))),
            ]
            for q in ev.requirements
        ],
    )
    lints = Table(
        ("Severity", "Requirement", "Finding", "Fix"),
        [
            [
                Cell(f.severity.value),
                Cell(f.requirement),
                Cell(f"{f.code} {f.subject}: {f.message}"),
                Cell(f.fix),
            ]
            for f in ev.lints
        ],
    )
    return PciView(
        verdict=b.status.value.upper(),
        verdict_css=_BOUNDARY_CSS[b.status],
        headline=_headline(section),
        reasons=list(b.reasons),
        rounds=rounds,
        requirements=requirements,
        lints=lints,
        probes=_probes(ev.probes),
    )
