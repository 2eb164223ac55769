"""summary.md: a short Markdown verdict for PR comments and CI step summaries."""

from __future__ import annotations

from dataclasses import replace

from report_support import check_golden, provenance, verdict

from harness.measure.result import RunResult, ScenarioRef
from harness.report import ReportInputs
from harness.report.markdown import md_cell, render_summary_md
from harness.report.provenance import Provenance
from harness.slo.verdict import Comparison, Verdict, VerdictStatus


def test_golden_failed_run_with_baseline(
    run: RunResult, failed: Verdict, prov: Provenance, regression: Comparison
) -> None:
    """A failed run with a baseline renders exactly as the golden file."""
    check_golden("summary-fail.md", render_summary_md(ReportInputs(run, failed, prov, regression)))


def test_golden_passing_run(run: RunResult) -> None:
    """A passing run without a baseline renders exactly as the golden file."""
    text = render_summary_md(ReportInputs(run, verdict(VerdictStatus.PASS), provenance(run)))
    check_golden("summary-pass.md", text)


def test_insufficient_objective_is_labelled(run: RunResult) -> None:
    """An insufficient objective shows INSUFFICIENT and the verdict line says INVALID."""
    text = render_summary_md(
        ReportInputs(run, verdict(VerdictStatus.INVALID), provenance(run))
    ).decode()
    assert "## SLO verdict: **[INVALID]**" in text
    assert "| INSUFFICIENT | p99.9 latency \\< 80 ms |" in text


def test_pipes_in_names_do_not_break_the_table(run: RunResult, prov: Provenance) -> None:
    """A pipe in a scenario or objective name is escaped inside table cells."""
    odd = replace(run, scenario=ScenarioRef("a|b", "x.yaml", "ab" * 32))
    text = render_summary_md(ReportInputs(odd, verdict(VerdictStatus.PASS), prov)).decode()
    assert "a\\|b" in text
    assert md_cell("x | y\nz") == "x \\| y z"


def test_html_and_markdown_in_names_are_escaped(run: RunResult, prov: Provenance) -> None:
    """An SLO objective or scenario name carrying HTML, a link, an image or a backtick prints as
    text in summary.md: no tag, no link, no image survives (as report.html escapes them)."""
    hostile = "<img src=x onerror=alert(1)> [click](https://e.test) ![p](https://e.test/p.png) `x"
    odd = replace(run, scenario=ScenarioRef(hostile, "x.yaml", "ab" * 32))
    v = verdict(VerdictStatus.FAIL)
    v = replace(v, objectives=tuple(replace(o, name=hostile) for o in v.objectives))
    text = render_summary_md(ReportInputs(odd, v, prov)).decode()
    assert "<img" not in text.replace("\\<img", "")
    assert "\\<img src=x onerror=alert\\(1\\)\\>" in text
    assert "](https://e.test" not in text
    assert "!\\[" not in text.replace("\\!\\[", "")
    assert "\\`x" in text
