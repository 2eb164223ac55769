"""``summary.md``: the verdict and objectives in a few lines of Markdown (a PR comment, a CI step
summary). No emoji and no HTML: the badge is text (``**[PASS]**``), so it reads the same in a
terminal, a GitHub comment and GitLab. Links are relative to the run directory.

Every text that comes from outside (scenario and SLO names, objective names, target URL, labels,
reasons that quote them) goes through :func:`md_cell`: a backslash before every Markdown special
character and before ``<``, ``>`` and ``&`` (a PR comment renders HTML; a name must not become a
tag, a link, an image that calls home, or a table cell boundary). Such text is never put in a code
span, where a backtick in it would end the span.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from harness.report.capacity import CAPACITY_HEADERS, CAPACITY_NOTE, capacity_rows
from harness.report.gameday import gameday_summary, step_headers, step_rows
from harness.report.inputs import ReportInputs
from harness.report.junit import format_value
from harness.report.responses import responses_md
from harness.report.stats import summarise
from harness.report.tail_section import tail_summary_lines
from harness.slo import Comparison, ObjectiveStatus, stage_label

__all__ = ["ARTIFACT_DESCRIPTIONS", "md_cell", "render_summary_md"]

#: Artifact file name -> what it is for (shared with the HTML report's artifact list).
ARTIFACT_DESCRIPTIONS: Final = (
    ("report.html", "the full report (plots, provenance), opens offline"),
    ("report.json", "every number, machine-readable (schema report.schema.json)"),
    ("junit.xml", "objectives as JUnit test cases for CI"),
    ("windows.csv", "per-second table for spreadsheets"),
    ("latency.hlog", "HdrHistogram interval log (values in microseconds)"),
    ("MANIFEST.json", "SHA-256 of every artifact"),
)
_STATUS: Final = {
    ObjectiveStatus.PASS: "PASS",
    ObjectiveStatus.FAIL: "FAIL",
    ObjectiveStatus.INSUFFICIENT: "INSUFFICIENT",
}


#: Characters with a meaning in GitHub/GitLab Markdown: each is backslash-escaped, so a name such
#: as ``[x](https://...)`` or ``![](...)`` or ``*bold*`` prints as typed.
#: ``<``, ``>`` and ``&`` are on the list because PR comments render HTML: CommonMark treats a
#: backslash-escaped ``<`` as a literal character, so no tag or entity can start.
_MD_SPECIAL: Final = frozenset("\\`*_{}[]()#+!|~<>&")


def md_cell(text: str) -> str:
    """``text`` safe anywhere in summary.md: one line, no HTML and no Markdown markup (every
    special character backslash-escaped, CommonMark's rule for literal punctuation)."""
    out = []
    for ch in " ".join(text.split()):
        if ch in _MD_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return lines


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def render_summary_md(inputs: ReportInputs) -> bytes:
    """The ``summary.md`` bytes (with the game day's step table when ``journal`` is given)."""
    result, verdict, provenance = inputs.result, inputs.verdict, inputs.provenance
    comparison, journal, pci = inputs.comparison, inputs.journal, inputs.pci
    status = verdict.status.value.upper()
    model = " ".join(x for x in (result.target.model_name, result.target.model_version) if x)
    when = (
        f"{result.started_at:%Y-%m-%d %H:%M:%S} UTC to {result.ended_at:%H:%M:%S} UTC"
        if result.started_at.date() == result.ended_at.date()
        else f"{result.started_at:%Y-%m-%d %H:%M:%S} UTC to {result.ended_at:%Y-%m-%d %H:%M:%S} UTC"
    )
    lines = [
        f"## SLO verdict: **[{status}]** {md_cell(result.scenario.name)}",
        "",
        f"Scenario {md_cell(result.scenario.name)} against {md_cell(provenance.target_url)}"
        + (f" (model {md_cell(model)})" if model else "")
        + f", {when}, slo-harness {md_cell(provenance.harness_version)}"
        + (f", commit `{provenance.git_commit[:12]}`" if provenance.git_commit else "")
        + (" (dirty)" if provenance.git_dirty else "")
        + ".",
    ]
    if verdict.reasons:
        lines += ["", *[f"- {md_cell(r)}" for r in verdict.reasons]]
    if result.audit is not None:
        a = result.audit
        state = "intact" if a.intact else "**BROKEN OR INCOMPLETE**"
        lines += ["", f"Audit trail of the reference service: {state} ({a.records:,} records)."]
        lines += [f"- {md_cell(p)}" for p in a.problems]
    if journal is not None:
        lines += ["", "### Game day", "", *gameday_summary(journal), ""]
        lines += _table(step_headers(), step_rows(journal.steps))
    lines += ["", "### Objectives", ""]
    if verdict.objectives:
        lines += _table(
            ("Status", "Objective", "Phase", "Endpoint", "Observed", "Required", "Samples"),
            [
                (
                    _STATUS[o.status],
                    o.name,
                    o.phase,
                    o.endpoint or "all",
                    format_value(o.observed, o.unit),
                    f"{o.op} {format_value(o.threshold, o.unit)}",
                    "n/a" if o.samples is None else f"{o.samples:,}",
                )
                for o in verdict.objectives
            ],
        )
    else:
        lines.append("No objectives were evaluated.")
    if verdict.capacity:
        lines += ["", "### Capacity (knee)", "", CAPACITY_NOTE, ""]
        lines += _table(CAPACITY_HEADERS, capacity_rows(verdict.capacity))
    lines += [
        "",
        "### Latency",
        "",
        "Milliseconds from the intended send time (coordinated-omission corrected), OK responses.",
        "",
    ]
    lines += _table(
        ("Phase", "Sent", "OK", "Failed", "Shed", "Late", "p50", "p90", "p99", "p99.9", "max"),
        [
            (
                p.name + ("" if p.in_verdict else " (warm-up)"),
                f"{p.counts.sent:,}",
                f"{p.counts.ok:,}",
                f"{p.counts.failed:,}",
                f"{p.counts.shed:,}",
                f"{p.counts.late:,}",
                *(_ms(s.get(k)) for k in ("p50", "p90", "p99", "p99_9", "max")),
            )
            for p in result.phases
            for s in (summarise(p.latency()),)
        ],
    )
    lines += responses_md(result)
    lines += tail_summary_lines(result)
    if comparison is not None:
        lines += ["", *_comparison_lines(comparison)]
    if pci is not None:
        from harness.report.pci_run import pci_summary_md  # it imports md_cell from here

        lines += pci_summary_md(pci)
    lines += ["", "### Artifacts", ""]
    lines += [f"- [{name}]({name}): {text}" for name, text in ARTIFACT_DESCRIPTIONS]
    lines += [
        "",
        "Check that no artifact was edited: `slo-harness report verify <this directory>`.",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _comparison_lines(c: Comparison) -> list[str]:
    outcome = "REGRESSED" if c.regressed else "no regression"
    lines = [
        "### Baseline comparison",
        "",
        f"**[{outcome.upper()}]** {md_cell(c.new_label)} against baseline "
        f"{md_cell(c.base_label)} (tolerance {c.tolerance * 100:.4g}%, alpha {c.alpha:g}).",
        "",
    ]
    lines += _table(
        ("Result", "Phase", "Endpoint", "Metric", "Baseline ms", "New ms", "Ratio", "Rule"),
        [
            (
                "REGRESSED" if m.regressed else "ok",
                m.phase,
                m.endpoint or "all",
                m.metric,
                f"{m.base_ms:.3f}",
                f"{m.new_ms:.3f}",
                f"{m.ratio:.3f}"
                + (
                    f" [{m.ci_low:.3f}, {m.ci_high:.3f}]"
                    if m.ci_low is not None and m.ci_high is not None
                    else ""
                ),
                m.rule.value,
            )
            for m in c.metrics
        ],
    )
    moved = [m for m in c.metrics if m.regressed and m.stage is not None]
    if moved:
        lines += [""] + [
            f"- {md_cell(m.metric)} of {md_cell(m.phase)} / {md_cell(m.endpoint or 'all')}: "
            f"the stage that moved is {md_cell(stage_label(m.stage or ''))} "
            f"(+{m.stage_delta_ms or 0.0:.1f} ms)"
            for m in moved
        ]
    if c.notes:
        lines += ["", *[f"- {md_cell(n)}" for n in c.notes]]
    return lines
