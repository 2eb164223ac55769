"""junit.xml: one test case per objective, CI-native failures, skips and errors."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from report_support import check_golden, comparison, provenance, verdict

from harness.measure.result import AuditCheck, RunResult
from harness.report.junit import render_junit
from harness.report.provenance import Provenance
from harness.slo.verdict import Comparison, Verdict, VerdictStatus


def _cases(xml: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {f"{c.get('classname')}::{c.get('name')}": c for c in root.iter("testcase")}


def test_golden_failed_run_with_baseline(
    failed: Verdict, prov: Provenance, regression: Comparison
) -> None:
    """A failed run with a regressed baseline renders exactly as the golden file."""
    check_golden("junit-fail.xml", render_junit(failed, prov, "steady", regression))


def test_golden_invalid_run(run: RunResult) -> None:
    """An invalid run renders exactly as the golden file."""
    xml = render_junit(verdict(VerdictStatus.INVALID), provenance(run), "steady", audit=run.audit)
    check_golden("junit-invalid.xml", xml)


def test_failure_names_the_objective_with_observed_and_threshold(
    failed: Verdict, prov: Provenance
) -> None:
    """A breached objective is a <failure> whose message carries observed vs threshold."""
    case = _cases(render_junit(failed, prov, "steady"))["steady::p99 latency < 50 ms"]
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "observed 61.25 ms, required < 50 ms"
    assert "61.25 ms" in (failure.text or "")


def test_insufficient_is_skipped_not_passed(run: RunResult) -> None:
    """An insufficient objective is <skipped>, with the reason, and never a plain pass."""
    xml = render_junit(verdict(VerdictStatus.INVALID), provenance(run), "steady")
    case = _cases(xml)["steady./v2/models/fraud/infer::p99.9 latency < 80 ms"]
    skipped = case.find("skipped")
    assert skipped is not None
    assert "10,000 OK responses" in (skipped.get("message") or "")


def test_invalid_run_adds_an_error_case(run: RunResult) -> None:
    """An invalid run carries an <error> test case listing every reason."""
    root = ET.fromstring(render_junit(verdict(VerdictStatus.INVALID), provenance(run), "steady"))
    error = root.find(".//testcase[@classname='run'][@name='validity']/error")
    assert error is not None
    assert "Generator CPU above 90%" in (error.text or "")
    assert root.get("errors") == "1"


def test_passing_run_has_no_failures(run: RunResult) -> None:
    """A passing run's suite reports zero failures, errors and skips."""
    root = ET.fromstring(render_junit(verdict(VerdictStatus.PASS), provenance(run), "steady"))
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "2", "0", "0", "0",
    )  # fmt: skip


def test_comparison_metrics_are_test_cases(failed: Verdict, prov: Provenance) -> None:
    """Each compared metric is a test case; a regression fails, an insufficient one is skipped."""
    root = ET.fromstring(render_junit(failed, prov, "steady", comparison()))
    suite = root.find("testsuite[@name='baseline']")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    clean = ET.fromstring(render_junit(failed, prov, "steady", comparison(regressed=False)))
    assert clean.find("testsuite[@name='baseline']/testcase/failure") is None


def test_hostile_names_stay_well_formed(failed: Verdict, prov: Provenance) -> None:
    """Markup is escaped and characters XML cannot carry are replaced; the XML still parses."""
    xml = render_junit(failed, prov, "steady <\"&'> ]]> \x1b[31m\x00")
    assert ET.fromstring(xml).get("name") == "slo-harness steady <\"&'> ]]> \ufffd[31m\ufffd"


def test_broken_audit_trail_is_a_failure(failed: Verdict, prov: Provenance) -> None:
    """A broken audit trail of the embedded service is a failing 'run.audit trail' case."""
    broken = AuditCheck(intact=False, records=10, streams=1, problems=("chain broken at 4",))
    root = ET.fromstring(render_junit(failed, prov, "steady", audit=broken))
    failure = root.find(".//testcase[@name='audit trail']/failure")
    assert failure is not None
    assert failure.text == "chain broken at 4"
    intact = AuditCheck(intact=True, records=10, streams=1)
    root = ET.fromstring(render_junit(failed, prov, "steady", audit=intact))
    assert root.find(".//testcase[@name='audit trail']/failure") is None
    assert render_junit(failed, prov, "steady").count(b"audit trail") == 0
