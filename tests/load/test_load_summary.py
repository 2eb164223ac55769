"""The plugin's end-of-run summary (text and ``--slo-summary-json``): status codes per endpoint."""

from __future__ import annotations

import dataclasses
import json

from harness.load.summary import render_summary, summary_json
from harness.measure import EndpointResponses, FailureKind, Outcome, RunResult
from harness.testing import phase, run_result


def _run() -> RunResult:
    run = run_result(phase("steady", ok={"score": [2_000] * 97, "infer": [3_000] * 5}, failed=3))
    tally = (
        EndpointResponses(
            "steady",
            "score",
            {"200": 97, "401": 3},
            (FailureKind("HTTP 401", Outcome.FAILED, 3, ("unauthorised",)),),
        ),
        EndpointResponses("steady", "infer", {"200": 5}),
        EndpointResponses("other", "score", {"503": 9}),
    )
    return dataclasses.replace(run, responses=tally)


def test_summary_json_has_status_counts_and_failure_kinds_per_endpoint() -> None:
    """Each phase lists its endpoints' status codes with counts and failure kinds without the
    body samples; another phase's tally is not mixed in; it serialises as JSON."""
    data = summary_json(_run())
    (steady,) = data["phases"]
    assert steady["responses"] == {
        "infer": {"statuses": {"200": 5}, "failures": []},
        "score": {
            "statuses": {"200": 97, "401": 3},
            "failures": [{"kind": "HTTP 401", "outcome": "failed", "count": 3}],
        },
    }
    assert "unauthorised" not in json.dumps(data)


def test_text_summary_prints_a_status_line_per_endpoint() -> None:
    """The console table gets one status line per endpoint under its phase."""
    text = render_summary(_run())
    assert "score: 200: 97, 401: 3" in text
    assert "infer: 200: 5" in text
    assert "503" not in text
