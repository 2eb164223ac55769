"""``report.html``: one self-contained page a release manager can open offline and sign off.

Self-contained means: CSS inline, plots as inline SVG (see :mod:`harness.report.plots`), no
JavaScript, no external reference of any kind, and a Content-Security-Policy of
``default-src 'none'`` so a browser would refuse (and log) any fetch that crept in. Rendering is
Jinja2 with autoescaping on and undefined variables as errors; every piece of text (scenario
names, reasons, URLs, command lines) reaches the page escaped. Only the SVG produced here from
matplotlib is inserted as markup.

The page is assembled from a view model of plain strings built below, so the template is layout
only and every number is formatted once, in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import jinja2
from markupsafe import Markup

from harness.report.capacity import capacity_table
from harness.report.gameday import gameday_summary
from harness.report.html_tables import (
    audit_table,
    comparison_summary,
    comparison_table,
    facts_table,
    faults_table,
    gameday_table,
    generator_table,
    latency_table,
    objectives_table,
    phases_table,
    provenance_table,
)
from harness.report.inputs import ReportInputs
from harness.report.markdown import ARTIFACT_DESCRIPTIONS
from harness.report.pci_run import PciView, pci_view
from harness.report.plots import (
    SecondSeries,
    errors_svg,
    latency_over_time_svg,
    percentile_distribution_svg,
    throughput_svg,
)
from harness.report.responses import responses_table
from harness.report.series import fed_report_series
from harness.report.tail_section import tail_html, tail_plot
from harness.report.view import Cell, Plot, Table

__all__ = ["Cell", "Table", "render_report_html", "template_environment"]


@dataclass(slots=True)
class _Page:
    title: str
    verdict: str
    verdict_css: str
    reasons: Sequence[str]
    facts: Table
    objectives: Table
    capacity: Table | None
    phases: Table
    latency: Table
    responses: Table | None
    plots: Sequence[Plot]
    generator: Table
    comparison: Table | None
    comparison_summary: str
    comparison_notes: Sequence[str]
    faults: Table | None
    gameday: Table | None
    gameday_summary: Sequence[str]
    audit: Table | None
    provenance: Table
    artifacts: Sequence[tuple[str, str]] = field(default_factory=list)
    pci: PciView | None = None
    tail_sentences: Sequence[str] = field(default_factory=list)
    tail_breakdown: Table | None = None
    tail_slowest: Table | None = None


def template_environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (autoescape on, strict undefined)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_report_html(inputs: ReportInputs, *, series: SecondSeries | None = None) -> bytes:
    """The ``report.html`` bytes (with the game day's section when ``journal`` is given).

    ``series``: the plotted per-second series, already taken (min/max-downsampled to the plot
    width) in the series' one pass; else a pass is made here. Its size is bounded by the plot
    width, so the page's is too, whatever the run's length."""
    if series is None:
        fed = fed_report_series(inputs.result.intervals)
        series = fed.second_series()
        fed.close()
    page = _page(inputs, series)
    if inputs.pci is not None:
        page = replace(page, pci=pci_view(inputs.pci))
    html = template_environment().get_template("report.html.j2").render(page=page)
    return html.encode("utf-8")


# -- view model --------------------------------------------------------------------------------
def _page(inputs: ReportInputs, series: SecondSeries) -> _Page:
    result, verdict, provenance = inputs.result, inputs.verdict, inputs.provenance
    comparison, journal = inputs.comparison, inputs.journal
    status = verdict.status.value
    objectives = verdict.objectives
    plots = [
        Plot(
            "Latency over time",
            Markup(latency_over_time_svg(result, series, objectives, verdict.capacity)),
            "p50 and p99 of OK responses per second, from the intended send time; red lines are "
            "the SLO thresholds; shaded spans are fault windows; dotted lines start phases; a "
            "solid purple line marks where a ramp's confirmed breach began (its knee); crosses "
            "are the slowest requests (at their intended send time).",
        ),
        Plot(
            "Latency by percentile",
            Markup(percentile_distribution_svg(result, objectives)),
            "Whole-phase distributions on a log 'nines' axis (HdrHistogram plotter style); solid: "
            "from the intended send time, dashed: service time from the actual send.",
        ),
        Plot(
            "Errors, shed and late requests",
            Markup(errors_svg(result, series)),
            "Per second. Shed = 503 from the target's admission control; late = sent after the "
            "lateness bound (still measured).",
        ),
        Plot(
            "Offered and achieved throughput",
            Markup(throughput_svg(result, series)),
            "Offered: requests whose intended send time fell in the second; achieved: responses "
            "completed in it.",
        ),
    ]
    tail = tail_plot(result)
    if tail is not None:
        plots.insert(1, tail)
    sentences, breakdown, slowest = tail_html(result)
    return _Page(
        tail_sentences=sentences,
        tail_breakdown=breakdown,
        tail_slowest=slowest,
        title=(
            f"Game day report: {journal.title}"
            if journal is not None
            else f"SLO report: {result.scenario.name}"
        ),
        verdict=status.upper(),
        verdict_css=status,
        reasons=list(verdict.reasons),
        facts=facts_table(result, provenance),
        objectives=objectives_table(verdict),
        capacity=capacity_table(verdict.capacity),
        phases=phases_table(result),
        latency=latency_table(result),
        responses=responses_table(result),
        plots=plots,
        generator=generator_table(result),
        comparison=None if comparison is None else comparison_table(comparison),
        comparison_summary="" if comparison is None else comparison_summary(comparison),
        comparison_notes=[] if comparison is None else list(comparison.notes),
        faults=faults_table(result),
        gameday=None if journal is None else gameday_table(journal),
        gameday_summary=[] if journal is None else gameday_summary(journal),
        audit=audit_table(result),
        provenance=provenance_table(provenance),
        artifacts=list(ARTIFACT_DESCRIPTIONS),
    )
