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
from datetime import datetime
from typing import Final

import jinja2
from markupsafe import Markup

from harness.chaos import Journal
from harness.measure import Clock, RunResult
from harness.report.capacity import capacity_table
from harness.report.gameday import gameday_summary, step_headers, step_rows
from harness.report.inputs import ReportInputs
from harness.report.junit import format_value
from harness.report.markdown import ARTIFACT_DESCRIPTIONS
from harness.report.pci_run import PciView, pci_view
from harness.report.plots import (
    errors_svg,
    latency_over_time_svg,
    per_second,
    percentile_distribution_svg,
    throughput_svg,
)
from harness.report.provenance import Provenance
from harness.report.responses import responses_table, secrets_line
from harness.report.stats import LatencySummary, endpoint_counts, summarise
from harness.report.tail_section import tail_html, tail_plot
from harness.report.view import Cell, Plot, Table
from harness.slo import Comparison, ObjectiveStatus, Verdict

__all__ = ["Cell", "Table", "render_report_html", "template_environment"]

_STATUS_CLASS: Final = {
    ObjectiveStatus.PASS: "pass",
    ObjectiveStatus.FAIL: "fail",
    ObjectiveStatus.INSUFFICIENT: "insufficient",
}


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


def render_report_html(inputs: ReportInputs) -> bytes:
    """The ``report.html`` bytes (with the game day's section when ``journal`` is given)."""
    page = _page(inputs)
    if inputs.pci is not None:
        page = replace(page, pci=pci_view(inputs.pci))
    html = template_environment().get_template("report.html.j2").render(page=page)
    return html.encode("utf-8")


# -- view model --------------------------------------------------------------------------------
def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _int(value: int) -> str:
    return f"{value:,}"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _latency_cells(s: LatencySummary) -> list[Cell]:
    return [Cell(_ms(s.get(k))) for k in ("p50", "p90", "p95", "p99", "p99_9", "max")]


def _page(inputs: ReportInputs) -> _Page:
    result, verdict, provenance = inputs.result, inputs.verdict, inputs.provenance
    comparison, journal = inputs.comparison, inputs.journal
    status = verdict.status.value
    series = per_second(result.intervals)
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
        facts=_facts(result, provenance),
        objectives=_objectives(verdict),
        capacity=capacity_table(verdict.capacity),
        phases=_phases(result),
        latency=_latency(result),
        responses=responses_table(result),
        plots=plots,
        generator=_generator(result),
        comparison=None if comparison is None else _comparison(comparison),
        comparison_summary="" if comparison is None else _comparison_summary(comparison),
        comparison_notes=[] if comparison is None else list(comparison.notes),
        faults=_faults(result),
        gameday=None if journal is None else _gameday(journal),
        gameday_summary=[] if journal is None else gameday_summary(journal),
        audit=_audit(result),
        provenance=_provenance(provenance),
        artifacts=list(ARTIFACT_DESCRIPTIONS),
    )


def _pairs(pairs: Sequence[tuple[str, str]], caption: str = "") -> Table:
    return Table(("", ""), [[Cell(k, "key"), Cell(v)] for k, v in pairs], caption)


def _facts(result: RunResult, p: Provenance) -> Table:
    model = " ".join(x for x in (result.target.model_name, result.target.model_version) if x)
    duration = (result.ended_at - result.started_at).total_seconds()
    return _pairs(
        [
            ("Scenario", f"{result.scenario.name} ({result.scenario.path})"),
            (
                "Target",
                p.target_url
                + (" (started by the harness)" if result.target.started_by_harness else ""),
            ),
            ("Model", model or "unknown"),
            ("Run", f"{_when(result.started_at)} to {_when(result.ended_at)} ({duration:.1f} s)"),
            ("Load", f"{result.workers} worker processes" if result.workers else "local runner"),
            ("Harness", f"slo-harness {p.harness_version}"),
            ("Commit", (p.git_commit or "unknown") + (" (dirty)" if p.git_dirty else "")),
            *([("Secrets used (names only)", secrets_line(result))] if result.secrets_used else []),
        ]
    )


def _objectives(verdict: Verdict) -> Table:
    return Table(
        ("Status", "Objective", "Phase", "Endpoint", "Observed", "Required", "Samples", "Reason"),
        [
            [
                Cell(o.status.value.upper(), f"badge {_STATUS_CLASS[o.status]}"),
                Cell(o.name),
                Cell(o.phase),
                Cell(o.endpoint or "all"),
                Cell(format_value(o.observed, o.unit), "num"),
                Cell(f"{o.op} {format_value(o.threshold, o.unit)}", "num"),
                Cell("n/a" if o.samples is None else _int(o.samples), "num"),
                Cell(o.reason, "reason"),
            ]
            for o in verdict.objectives
        ],
    )


def _phases(result: RunResult) -> Table:
    rows = []
    for p in result.phases:
        c = p.counts
        rows.append(
            [
                Cell(p.name + ("" if p.in_verdict else " (warm-up)")),
                Cell(p.kind.value),
                Cell(f"{p.start_s:.1f}"),
                Cell(f"{p.duration_s:.1f}"),
                Cell(f"{p.offered_rps:.1f}"),
                Cell(f"{p.achieved_rps:.1f}"),
                *(Cell(_int(v)) for v in (c.sent, c.ok, c.failed, c.shed, c.late, c.unsent)),
            ]
        )
    return Table(
        ("Phase", "Kind", "Start s", "Duration s", "Offered/s", "Achieved/s", "Sent", "OK",
         "Failed", "Shed", "Late", "Unsent"),
        rows,
        "Offered: the schedule's mean rate; achieved: completed responses per second. Late "
        "requests were sent after the lateness bound (and still measured); unsent ones could not "
        "be sent before the phase ended.",
        numeric_from=2,
    )  # fmt: skip


def _latency(result: RunResult) -> Table:
    rows = []
    for p in result.phases:
        for endpoint in (None, *p.endpoints):
            intended = summarise(p.latency(endpoint=endpoint))
            service = summarise(p.latency(endpoint=endpoint, clock=Clock.SERVICE))
            ok = p.counts.ok if endpoint is None else endpoint_counts(p, endpoint).ok
            rows.append(
                [
                    Cell(p.name if endpoint is None else ""),
                    Cell(endpoint or "all endpoints"),
                    Cell(_int(ok)),
                    *_latency_cells(intended),
                    Cell(_ms(service.p50)),
                    Cell(_ms(service.p99)),
                ]
            )
    return Table(
        ("Phase", "Endpoint", "OK", "p50", "p90", "p95", "p99", "p99.9", "max", "service p50",
         "service p99"),
        rows,
        "Milliseconds from the intended send time (coordinated-omission corrected) over OK "
        "responses; service time from the actual send.",
        numeric_from=2,
    )  # fmt: skip


def _generator(result: RunResult) -> Table:
    g = result.generator
    return _pairs(
        [
            ("Valid", "yes" if g.valid else "NO: " + "; ".join(g.reasons)),
            ("CPU (median / max)", f"{g.cpu_percent_p50:.1f}% / {g.cpu_percent_max:.1f}%"),
            (
                "Schedule lag (p99 / max)",
                f"{g.schedule_lag_p99_ms:.3f} ms / {g.schedule_lag_max_ms:.3f} ms",
            ),
            ("Concurrency (peak / cap)", f"{g.concurrency_peak:,} / {g.concurrency_cap:,}"),
            ("Cap hits", f"{g.cap_hits:,}"),
        ]
    )


def _comparison_summary(c: Comparison) -> str:
    outcome = "REGRESSED" if c.regressed else "no regression"
    return (
        f"{outcome}: {c.new_label} against baseline {c.base_label}; a metric regresses only when "
        f"the change is statistically significant (alpha {c.alpha:g}) and larger than the "
        f"{c.tolerance * 100:.4g}% tolerance."
    )


def _comparison(c: Comparison) -> Table:
    rows = []
    for m in c.metrics:
        ci = (
            f"[{m.ci_low:.3f}, {m.ci_high:.3f}]"
            if m.ci_low is not None and m.ci_high is not None
            else ""
        )
        rows.append(
            [
                Cell(
                    "REGRESSED" if m.regressed else "ok",
                    "badge " + ("fail" if m.regressed else "pass"),
                ),
                Cell(m.phase),
                Cell(m.endpoint or "all"),
                Cell(m.metric),
                Cell(f"{m.base_ms:.3f}", "num"),
                Cell(f"{m.new_ms:.3f}", "num"),
                Cell(f"{m.ratio:.3f}", "num"),
                Cell(ci, "num"),
                Cell("" if m.p_value is None else f"{m.p_value:.3g}", "num"),
                Cell(m.rule.value),
                Cell(m.reason, "reason"),
            ]
        )
    return Table(
        ("Result", "Phase", "Endpoint", "Metric", "Base ms", "New ms", "Ratio", "CI of ratio",
         "p", "Rule", "Reason"),
        rows,
    )  # fmt: skip


def _faults(result: RunResult) -> Table | None:
    if not result.fault_windows:
        return None
    return Table(
        ("Fault", "From s", "To s"),
        [
            [Cell(w.name), Cell(f"{w.start_s:.1f}", "num"), Cell(f"{w.end_s:.1f}", "num")]
            for w in result.fault_windows
        ],
    )


def _gameday(journal: Journal) -> Table:
    rows = [
        [Cell(v, "num" if i >= 3 and v[:1].isdigit() else "") for i, v in enumerate(row)]
        for row in step_rows(journal.steps)
    ]
    return Table(
        step_headers(),
        rows,
        "Offsets in seconds from the run start (warm-up included). Detected: end of the first "
        "rolling window that broke the hypothesis after the injection; recovered: after the "
        "rollback, until the hypothesis held for the whole hold. Budget: share of the game day's "
        "error (failed) and latency (slower than the SLO) budget burned from injection to "
        "recovery.",
    )


def _audit(result: RunResult) -> Table | None:
    a = result.audit
    if a is None:
        return None
    return _pairs(
        [
            ("State", "intact" if a.intact else "BROKEN OR INCOMPLETE"),
            ("Records", f"{a.records:,} decision records in {a.streams} stream(s)"),
            *(("Problem", p) for p in a.problems),
        ],
        "Verified after the embedded reference service stopped: the hash chain is intact and "
        "every OK score response has its audit record.",
    )


def _provenance(p: Provenance) -> Table:
    packages = ", ".join(f"{pkg.name} {pkg.version or 'not installed'}" for pkg in p.packages)
    return _pairs(
        [
            ("Harness version", p.harness_version),
            ("Git commit", p.git_commit or "unknown (not a git checkout)"),
            ("Working tree", {True: "dirty", False: "clean", None: "unknown"}[p.git_dirty]),
            ("Scenario file", f"{p.scenario_path} (SHA-256 {p.scenario_sha256 or 'unreadable'})"),
            (
                "SLO file",
                "embedded default"
                if p.slo_path is None
                else f"{p.slo_path} (SHA-256 {p.slo_sha256 or 'unreadable'})",
            ),
            ("Target", p.target_url),
            ("Model", " ".join(x for x in (p.model_name, p.model_version) if x) or "unknown"),
            ("Model SHA-256", p.model_sha256 or "unknown"),
            ("Host", p.host),
            ("CPU", f"{p.cpu_model} x {p.cpu_count}"),
            ("OS", f"{p.os} (kernel {p.kernel})"),
            ("Python", p.python_version),
            ("Packages", packages),
            ("Started (UTC)", p.started_at.isoformat()),
            ("Ended (UTC)", p.ended_at.isoformat()),
            ("Command line", " ".join(p.command_line)),
            *_connection_rows(p),
        ]
    )


def _connection_rows(p: Provenance) -> list[tuple[str, str]]:
    c = p.connection
    if c is None:
        return []
    rows = [
        ("Load allowed to", "; ".join(c.allowlist)),
        ("Target addresses", ", ".join(c.addresses) + " (resolved once, each checked)"),
    ]
    t = c.tls
    if t is None:
        return [*rows, ("TLS", "none (http://)")]
    verify = (
        f"verified against {t.ca_file or 'the system trust store'} as {t.server_name}"
        if t.verify
        else "NOT VERIFIED (insecure: true)"
    )
    rows.append(
        (
            "TLS",
            f"{t.negotiated_version or '?'} {t.cipher or ''} (min {t.min_version}); server "
            f"certificate {verify}",
        )
    )
    if t.server_cert_sha256:
        rows.append(
            (
                "Server certificate",
                f"{t.server_cert_subject or '?'}, SHA-256 {t.server_cert_sha256}, "
                f"valid until {t.server_cert_not_after or '?'}",
            )
        )
    if t.client_cert_file:
        rows.append(
            (
                "Client certificate (mTLS)",
                f"{t.client_cert_file}: {t.client_cert_subject or '?'}, "
                f"SHA-256 {t.client_cert_sha256 or '?'}",
            )
        )
    return rows
