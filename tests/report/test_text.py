"""render_comparison_text: the terminal view of `slo-harness compare`."""

from __future__ import annotations

from report_support import comparison

from harness.report import render_comparison_text


def test_regression_is_named_with_its_rule_and_reason() -> None:
    """The first line says REGRESSED; the flagged metric's row and reason follow; notes last."""
    text = render_comparison_text(comparison())
    lines = text.splitlines()
    assert lines[0].startswith("REGRESSED: steady@2024-05-01T12:00:00Z vs baseline")
    assert "tolerance 10%" in lines[0]
    row = next(line for line in lines if line.startswith("!!"))
    assert "p99" in row
    assert "percentile_ci" in row
    assert "1.211" in row
    assert "  - p99 rose 21.1%" in text
    assert lines[-1] == "note: Phase 'soak' is only in the baseline run and was not compared."


def test_no_regression() -> None:
    """Without a flagged metric the outcome reads 'no regression' and no row is marked."""
    text = render_comparison_text(comparison(regressed=False))
    assert text.startswith("no regression: ")
    assert "!!" not in text
