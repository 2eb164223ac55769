"""Status codes and failure samples in the report family: report.json (schema 1.5), summary.md
and report.html show them per phase and endpoint; the secrets list names variables only."""

from __future__ import annotations

import dataclasses
import json

from report_support import SCORE, verdict

from harness.measure import Outcome, ResponseTally
from harness.measure.result import RunResult
from harness.payload import synthetic_pan
from harness.report import ReportInputs
from harness.report.html_report import render_report_html
from harness.report.json_report import render_report_json
from harness.report.markdown import render_summary_md
from harness.report.provenance import Provenance
from harness.slo.verdict import VerdictStatus

PAN = synthetic_pan(3, 7)


def _with_responses(run: RunResult) -> RunResult:
    tally = ResponseTally()
    phase = run.phases[-1].name
    for _ in range(90):
        tally.status(phase, SCORE, "200")
    for i in range(7):
        tally.status(phase, SCORE, "404")
        tally.failure(phase, SCORE, "HTTP 404", Outcome.FAILED, f'{{"error": "no route {i}"}}')
    tally.status(phase, SCORE, "503")
    tally.failure(phase, SCORE, "HTTP 503", Outcome.SHED, f"card {PAN} refused".encode())
    return dataclasses.replace(run, responses=tally.build(), secrets_used=("env:RISK_TOKEN",))


def test_responses_in_json_markdown_and_html(run: RunResult, prov: Provenance) -> None:
    """Counts per status, failure kinds with their first 3 bodies, PANs masked, secrets by name."""
    result = _with_responses(run)
    v = verdict(VerdictStatus.PASS)
    doc = json.loads(render_report_json(ReportInputs(result, v, prov)))
    assert doc["schema_version"] == "1.10"
    (score,) = [e for e in doc["phases"][-1]["endpoints"] if e["endpoint"] == SCORE]
    assert score["responses"]["statuses"] == {"200": 90, "404": 7, "503": 1}
    first, second = score["responses"]["failures"]
    assert (first["kind"], first["count"], first["outcome"]) == ("HTTP 404", 7, "failed")
    assert first["samples"] == [f'{{"error": "no route {i}"}}' for i in range(3)]
    assert (second["kind"], second["outcome"]) == ("HTTP 503", "shed")
    assert PAN not in second["samples"][0]
    assert doc["provenance"]["secrets_used"] == ["env:RISK_TOKEN"]
    md = render_summary_md(ReportInputs(result, v, prov)).decode()
    assert "### Responses" in md
    assert "200: 90, 404: 7, 503: 1" in md
    assert "HTTP 404 (7 failed)" in md
    html = render_report_html(ReportInputs(result, v, prov)).decode()
    assert 'id="responses"' in html
    assert "HTTP 503: 1 shed" in html
    assert "env:RISK_TOKEN" in html
    for text in (json.dumps(doc), md, html):
        assert PAN not in text
