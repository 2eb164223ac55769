"""``junit.xml``: objectives (and baseline metrics) as JUnit test cases, so any CI shows the gate.

Layout (the de-facto JUnit XML dialect GitLab, GitHub test reporters and Jenkins read):

- one ``<testsuite name="slo">`` with one ``<testcase>`` per objective result:
  ``classname`` = phase (``phase.endpoint`` when scoped), ``name`` = the objective's name;
  a failed objective carries ``<failure message="observed X, required OP T">`` with the reason;
  an insufficient one carries ``<skipped message=...>`` (never shown as a pass);
- when the harness ran the reference service, a ``run.audit trail`` test case fails if the
  service's audit trail was broken or incomplete;
- an invalid run adds a ``run.validity`` test case with an ``<error>`` listing the reasons, so a
  run that could not be measured honestly is red even when no objective failed;
- with a baseline, a second ``<testsuite name="baseline">`` with one test case per compared
  metric (failure when it regressed, skipped when insufficient).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Final

from harness.chaos import Journal
from harness.measure import AuditCheck
from harness.report.provenance import Provenance
from harness.slo import (
    Comparison,
    MetricComparison,
    ObjectiveResult,
    ObjectiveStatus,
    RegressionRule,
    Verdict,
    VerdictStatus,
)

__all__ = ["format_value", "render_junit"]

# Characters XML 1.0 cannot carry at all, even escaped (ElementTree would write them verbatim and
# produce a file no CI parser accepts).
_NOT_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SUITE_SLO: Final = "slo"
_SUITE_BASELINE: Final = "baseline"


def format_value(value: float | None, unit: str) -> str:
    """A threshold or observation for people: ``61.2 ms``, ``0.15%``, ``2.5x``; ``n/a`` for None."""
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value * 100:.4g}%"
    if unit == "x":
        return f"{value:.4g}x"
    return f"{value:.4g} {unit}"


def render_junit(
    verdict: Verdict,
    provenance: Provenance,
    scenario: str,
    comparison: Comparison | None = None,
    *,
    audit: AuditCheck | None = None,
    journal: Journal | None = None,
) -> bytes:
    """The ``junit.xml`` bytes (UTF-8, with an XML declaration); a game day's ``journal`` adds a
    ``gameday`` suite: one case per step (fails when its expectations did not hold or its fault
    failed) and one per rollback (fails unless verified gone)."""
    root = ET.Element("testsuites", name=f"slo-harness {scenario}")
    timestamp = provenance.started_at.strftime("%Y-%m-%dT%H:%M:%S")
    slo = _suite(root, _SUITE_SLO, timestamp, provenance.host)
    props = ET.SubElement(slo, "properties")
    for name, value in (
        ("verdict", verdict.status.value),
        ("scenario", scenario),
        ("harness_version", provenance.harness_version),
        ("git_commit", provenance.git_commit or "unknown"),
        ("model_version", provenance.model_version or "unknown"),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    for objective in verdict.objectives:
        _objective_case(slo, objective)
    if audit is not None:
        _audit_case(slo, audit)
    if verdict.status is VerdictStatus.INVALID:
        case = ET.SubElement(slo, "testcase", classname="run", name="validity", time="0")
        error = ET.SubElement(
            case, "error", message="the run could not be measured honestly", type="invalid_run"
        )
        error.text = "\n".join(verdict.reasons) or "The run was marked invalid."
    if comparison is not None:
        base = _suite(root, _SUITE_BASELINE, timestamp, provenance.host)
        for metric in comparison.metrics:
            _metric_case(base, metric)
    if journal is not None:
        _gameday_suite(_suite(root, "gameday", timestamp, provenance.host), journal)
    _totals(
        root,
        [
            slo,
            *root.findall(f"testsuite[@name='{_SUITE_BASELINE}']"),
            *root.findall("testsuite[@name='gameday']"),
        ],
    )
    duration_s = (provenance.ended_at - provenance.started_at).total_seconds()
    slo.set("time", f"{max(duration_s, 0.0):.3f}")
    _sanitise(root)
    ET.indent(root, space="  ")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body + b"\n"


def _gameday_suite(suite: ET.Element, journal: Journal) -> None:
    for step in journal.steps:
        case = ET.SubElement(suite, "testcase", classname="step", name=step.name, time="0")
        detected = "-" if step.detected_after_s is None else f"{step.detected_after_s:.1f} s"
        recovered = "-" if step.recovered_after_s is None else f"{step.recovered_after_s:.1f} s"
        summary = (
            f"{step.fault}: {step.status.value}; detected after {detected}, "
            f"recovered after {recovered}"
        )
        if step.status.value == "failed":
            error = ET.SubElement(case, "error", message=summary, type="fault_failed")
            error.text = summary
        elif step.held is False:
            failure = ET.SubElement(
                case, "failure", message="expectations did not hold", type="gameday_deviation"
            )
            failure.text = (
                summary
                + "; "
                + "; ".join(
                    f"{c.objective}: observed {c.observed}" for c in step.checks if c.held is False
                )
            )
        elif step.status.value == "skipped" or step.held is None:
            ET.SubElement(case, "skipped", message=summary)
        else:
            ET.SubElement(case, "system-out").text = summary
    for rollback in journal.rollbacks:
        case = ET.SubElement(
            suite, "testcase", classname="rollback", name=rollback.activity, time="0"
        )
        if rollback.status.value != "succeeded":
            failure = ET.SubElement(
                case, "failure", message="fault not verified gone", type="rollback_failed"
            )
            failure.text = rollback.output
        else:
            ET.SubElement(case, "system-out").text = rollback.output


def _sanitise(root: ET.Element) -> None:
    """Replace characters XML cannot represent (terminal escapes, NUL) with U+FFFD."""
    for element in root.iter():
        for key, value in element.attrib.items():
            element.set(key, _NOT_XML.sub("\ufffd", value))
        if element.text:
            element.text = _NOT_XML.sub("\ufffd", element.text)


def _suite(root: ET.Element, name: str, timestamp: str, host: str) -> ET.Element:
    return ET.SubElement(root, "testsuite", name=name, timestamp=timestamp, hostname=host)


def _classname(phase: str, endpoint: str | None) -> str:
    return f"{phase}.{endpoint}" if endpoint else phase


def _objective_case(suite: ET.Element, o: ObjectiveResult) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=_classname(o.phase, o.endpoint), name=o.name, time="0"
    )
    required = f"{o.op} {format_value(o.threshold, o.unit)}"
    if o.status is ObjectiveStatus.FAIL:
        failure = ET.SubElement(
            case,
            "failure",
            message=f"observed {format_value(o.observed, o.unit)}, required {required}",
            type="slo_breach",
        )
        failure.text = o.reason
    elif o.status is ObjectiveStatus.INSUFFICIENT:
        ET.SubElement(case, "skipped", message=f"insufficient data: {o.reason}")
    else:
        out = ET.SubElement(case, "system-out")
        out.text = f"observed {format_value(o.observed, o.unit)}, required {required}. {o.reason}"


def _audit_case(suite: ET.Element, audit: AuditCheck) -> None:
    case = ET.SubElement(suite, "testcase", classname="run", name="audit trail", time="0")
    summary = f"{audit.records:,} decision records in {audit.streams} stream(s)"
    if audit.intact:
        ET.SubElement(case, "system-out").text = f"Audit trail intact: {summary}."
    else:
        failure = ET.SubElement(
            case, "failure", message=f"audit trail broken or incomplete ({summary})", type="audit"
        )
        failure.text = "\n".join(audit.problems)


def _metric_name(m: MetricComparison) -> str:
    what = "latency distribution" if m.metric == "distribution" else f"{m.metric} latency"
    return f"{what} vs baseline"


def _metric_case(suite: ET.Element, m: MetricComparison) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=_classname(m.phase, m.endpoint), name=_metric_name(m), time="0"
    )
    summary = f"baseline {m.base_ms:.4g} ms, new {m.new_ms:.4g} ms (ratio {m.ratio:.3g})"
    if m.regressed:
        failure = ET.SubElement(
            case, "failure", message=f"regressed ({m.rule.value}): {summary}", type="regression"
        )
        failure.text = m.reason
    elif m.rule is RegressionRule.INSUFFICIENT:
        ET.SubElement(case, "skipped", message=f"insufficient data: {m.reason}")
    else:
        out = ET.SubElement(case, "system-out")
        out.text = f"{summary}. {m.reason}"


def _totals(root: ET.Element, suites: Iterable[ET.Element]) -> None:
    grand = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in suites:
        cases = suite.findall("testcase")
        counts = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for key, value in counts.items():
            suite.set(key, str(value))
            grand[key] += value
        suite.set("time", "0")
    for key, value in grand.items():
        root.set(key, str(value))
    root.set("time", "0")
