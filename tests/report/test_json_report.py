"""report.json: schema, canonical form, the measurement contract and reading it back."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import numpy as np
import orjson
import pytest
from report_support import check_golden, make_run

from harness.errors import ArtifactError
from harness.measure import distribution
from harness.measure.histogram import LatencyHistogram
from harness.measure.result import Clock, RunResult
from harness.report import ReportInputs, ReportPaths, read_report, report_schema
from harness.report.json_report import canonical_json, render_report_json
from harness.report.provenance import Provenance
from harness.slo import compare
from harness.slo.verdict import Comparison, Verdict

SCHEMA_FILE = Path(__file__).parents[2] / "harness" / "report" / "report.schema.json"


def _same(a: LatencyHistogram, b: LatencyHistogram) -> bool:
    da, db = distribution(a), distribution(b)
    return (
        np.array_equal(da.values_us, db.values_us)
        and np.array_equal(da.counts, db.counts)
        and da.out_of_range == db.out_of_range
    )


def _doc(paths: ReportPaths) -> dict[str, object]:
    data: dict[str, object] = orjson.loads(paths.report_json.read_bytes())
    return data


def test_shipped_schema_matches_the_document_structs() -> None:
    """The shipped report.schema.json is exactly what the document structs generate."""
    generated = json.dumps(report_schema(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        SCHEMA_FILE.write_text(generated, encoding="utf-8")
    assert SCHEMA_FILE.read_text(encoding="utf-8") == generated


def test_schema_is_valid_draft_2020_12() -> None:
    """The schema itself validates against the draft 2020-12 meta-schema."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_written_report_validates_against_the_schema(written: ReportPaths) -> None:
    """A written report.json (failed run with a comparison) is valid under the shipped schema."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(_doc(written))


def test_schema_rejects_a_report_missing_the_verdict(written: ReportPaths) -> None:
    """The schema is strict enough to reject a report without its verdict."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    doc = _doc(written)
    del doc["verdict"]
    with pytest.raises(jsonschema.ValidationError, match="verdict"):
        jsonschema.Draft202012Validator(schema).validate(doc)


def test_canonical_form_is_stable(
    run: RunResult, failed: Verdict, prov: Provenance, regression: Comparison
) -> None:
    """Rendering twice gives the same bytes, and re-serialising the parsed file reproduces it."""
    first = render_report_json(ReportInputs(run, failed, prov, regression))
    assert first == render_report_json(ReportInputs(run, failed, prov, regression))
    assert canonical_json(orjson.loads(first)) == first
    assert first.startswith(b'{\n  "audit": {\n    "heads"')  # sorted keys, two-space indent
    keys = list(orjson.loads(first))
    assert keys == sorted(keys)


def test_contract_fields_of_the_steady_phase(written: ReportPaths, run: RunResult) -> None:
    """Phases carry the issue-3 contract; latency_ms is the intended clock, service the actual."""
    doc = _doc(written)
    assert doc["schema_version"] == "1.10"
    assert doc["verdict"] == "fail"
    steady = next(p for p in doc["phases"] if p["name"] == "steady")  # type: ignore[attr-defined]
    assert set(steady["requests"]) == {
        "sent", "ok", "failed", "shed", "late", "unsent", "out_of_range",
    }  # fmt: skip
    assert steady["requests"]["sent"] == 12_000
    phase = run.phases[1]
    assert steady["latency_ms"]["p99"] == phase.latency().percentile_us(99) / 1000
    assert steady["service_time_ms"]["p99"] == (
        phase.latency(clock=Clock.SERVICE).percentile_us(99) / 1000
    )
    assert steady["service_time_ms"]["p99"] < steady["latency_ms"]["p99"]
    assert {e["endpoint"] for e in steady["endpoints"]} == {"/v1/score", "/v2/models/fraud/infer"}
    assert len(steady["histograms"]) == len(phase.histograms)
    assert len(doc["intervals"]) == 70  # type: ignore[arg-type]


def test_objectives_carry_passed_and_reason(written: ReportPaths) -> None:
    """Each objective has name, phase, threshold, observed, passed and reason."""
    objectives = _doc(written)["objectives"]
    assert isinstance(objectives, list)
    first = objectives[0]
    assert first["name"] == "p99 latency < 50 ms"
    assert first["passed"] is False
    assert first["observed"] == 61.247
    assert first["threshold"] == 50.0
    assert "61.25 ms" in first["reason"]


def test_golden_report_json_without_payloads(written: ReportPaths) -> None:
    """The report's layout matches the golden file (HDR payloads elided, three intervals kept)."""
    doc = _doc(written)
    for phase in doc["phases"]:  # type: ignore[attr-defined]
        for hist in phase["histograms"]:
            hist["encoded"] = "<HDR>"
    doc["intervals"] = doc["intervals"][:3]  # type: ignore[index]
    for interval in doc["intervals"]:  # type: ignore[attr-defined]
        interval["encoded"] = "<HDR>"
    check_golden("report.json", canonical_json(doc))


def test_read_report_round_trips_histograms_exactly(written: ReportPaths, run: RunResult) -> None:
    """read_report rebuilds phases and intervals bucket for bucket."""
    loaded = read_report(written.out_dir)
    assert loaded.schema_version == "1.10"
    assert loaded.result.scenario == run.scenario
    assert loaded.result.fault_windows == run.fault_windows
    assert loaded.result.audit == run.audit
    for original, back in zip(run.phases, loaded.result.phases, strict=True):
        assert back.counts == original.counts
        assert set(back.histograms) == set(original.histograms)
        for key, hist in original.histograms.items():
            assert _same(back.histograms[key], hist)
    assert len(loaded.result.intervals) == len(run.intervals)
    for original_i, back_i in zip(run.intervals, loaded.result.intervals, strict=True):
        assert back_i.counts == original_i.counts
        assert _same(back_i.latency, original_i.latency)
    assert loaded.verdict.status.value == "fail"
    assert loaded.comparison is not None
    assert loaded.comparison.regressed


def test_compare_on_a_read_back_run_equals_compare_on_the_live_one(
    written: ReportPaths, run: RunResult
) -> None:
    """A baseline read from disk compares exactly like the in-memory run it came from."""
    other = make_run(seed=11, scale=1.25)
    loaded = read_report(written.out_dir).result
    assert compare(loaded, other) == compare(run, other)


def test_read_report_missing_directory(tmp_path: Path) -> None:
    """A missing directory is an ArtifactError naming it."""
    with pytest.raises(ArtifactError, match="does not exist"):
        read_report(tmp_path / "nope")


def test_read_report_missing_file(tmp_path: Path) -> None:
    """A directory without report.json is an ArtifactError naming the file."""
    with pytest.raises(ArtifactError, match=r"report\.json: missing"):
        read_report(tmp_path)


def test_read_report_corrupt_json(report_dir: Path) -> None:
    """Truncated JSON is an ArtifactError, not a traceback."""
    path = report_dir / "report.json"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ArtifactError, match=r"not a slo-harness report\.json"):
        read_report(report_dir)


def test_read_report_wrong_major_version(report_dir: Path) -> None:
    """A report from another major schema version is refused with both versions named."""
    path = report_dir / "report.json"
    doc = orjson.loads(path.read_bytes())
    doc["schema_version"] = "2.0"
    path.write_bytes(canonical_json(doc))
    with pytest.raises(ArtifactError, match=r"expected 1\.x .*got '2\.0'"):
        read_report(report_dir)


def test_read_report_names_the_bad_field(report_dir: Path) -> None:
    """A field of the wrong type is refused with its JSON path."""
    path = report_dir / "report.json"
    doc = orjson.loads(path.read_bytes())
    doc["phases"][1]["requests"]["sent"] = "many"
    path.write_bytes(canonical_json(doc))
    with pytest.raises(ArtifactError, match=r"\$\.phases\[1\]\.requests\.sent"):
        read_report(report_dir)


def test_read_report_accepts_a_newer_minor_version(report_dir: Path) -> None:
    """A 1.x report with an extra field still reads (minor versions only add fields)."""
    path = report_dir / "report.json"
    doc = orjson.loads(path.read_bytes())
    doc["schema_version"] = "1.99"
    doc["something_new"] = {"x": 1}
    path.write_bytes(canonical_json(doc))
    assert read_report(report_dir).schema_version == "1.99"


def test_read_report_corrupt_histogram(report_dir: Path) -> None:
    """An undecodable HDR payload is an ArtifactError."""
    path = report_dir / "report.json"
    doc = orjson.loads(path.read_bytes())
    doc["phases"][0]["histograms"][0]["encoded"] = "HISTFAAAAnotbase64!!"
    path.write_bytes(canonical_json(doc))
    with pytest.raises(ArtifactError, match="undecodable histogram"):
        read_report(report_dir)
