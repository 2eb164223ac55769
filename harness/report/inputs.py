"""What every renderer of a run's report family reads, as one value.

Why: ``report.json``, ``summary.md``, ``report.html`` and the writer all take the same six things
(the run, its verdict, its provenance, and optionally a baseline comparison, the game day's
journal and the PCI boundary section). Passing them as one frozen value gives that signature one
definition: a new section is one field here, not an edit to every renderer's parameter list.
Renderers read it; none computes a verdict from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.chaos import Journal
from harness.measure import RunResult
from harness.netpol import PciRunSection
from harness.report.provenance import Provenance
from harness.slo import Comparison, Verdict

__all__ = ["ReportInputs"]


@dataclass(frozen=True, slots=True)
class ReportInputs:
    """One run as the report family renders it.

    ``comparison``: the run against a baseline (``compare`` / ``run --baseline``); ``journal``:
    the run was a game day (step tables, ``journal.json``); ``pci``: ``run --netpol``'s boundary
    section.
    """

    result: RunResult
    verdict: Verdict
    provenance: Provenance
    comparison: Comparison | None = None
    journal: Journal | None = None
    pci: PciRunSection | None = None
