"""An interrupted run's interval log becomes a report marked incomplete (`report rebuild`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness import pipeline, rebuild_job
from harness.cli import cli
from harness.errors import ArtifactError, RunInterrupted
from harness.measure import (
    ALL_ENDPOINTS,
    Clock,
    HistKey,
    IntervalLogWriter,
    Outcome,
    PhaseKind,
    PhaseMeta,
    Recorder,
    ScenarioRef,
    TargetInfo,
    log_meta,
    read_series,
    result_from_log,
)
from harness.pipeline import PARTIAL_LOG_FILE, rebuild_report
from harness.report import verify_report_dir
from harness.slo import VerdictStatus

RUN_START_NS = 1_700_000_000 * 1_000_000_000
PHASES = [
    PhaseMeta("warmup", PhaseKind.WARMUP, False, 0.0, 3.0, 20.0),
    PhaseMeta("steady", PhaseKind.STEADY, True, 3.0, 60.0, 50.0),
]
META = log_meta(
    ScenarioRef("steady", "scenarios/steady.yaml", "ab" * 32),
    TargetInfo("http://127.0.0.1:8080", started_by_harness=True),
    PHASES,
    1.0,
)


def _interrupted_run(directory: Path, seconds: int = 45) -> Recorder:
    """A recorder streaming to the partial log, 'killed' after ``seconds`` of a 63 s run."""
    rec = Recorder(run_start_wall_ns=RUN_START_NS, lateness_ns=5_000_000)
    rec.attach_log(
        IntervalLogWriter(directory / PARTIAL_LOG_FILE, start_wall_s=RUN_START_NS / 1e9, meta=META)
    )
    for tick in range(seconds * 50):
        at_s = tick / 50
        phase = "warmup" if at_s < 3.0 else "steady"
        intended = rec.monotonic_ns_at(at_s)
        outcome = Outcome.FAILED if tick % 97 == 0 else Outcome.OK
        rec.record(
            phase=phase,
            endpoint="score" if tick % 2 else "infer",
            outcome=outcome,
            intended_ns=intended,
            sent_ns=intended + 100_000,
            done_ns=intended + (2_000 + tick % 700) * 1000,
        )
    rec.close_log(complete=False)  # what the runner's `finally` does on an interruption
    return rec


def test_log_rebuilds_the_phases_the_recorder_had(tmp_path: Path) -> None:
    """Counts and both clocks' histograms per phase equal the recorder's (all endpoints)."""
    rec = _interrupted_run(tmp_path)
    series = read_series(tmp_path / PARTIAL_LOG_FILE)
    assert not series.complete
    result = result_from_log(series)
    assert result.incomplete
    assert not result.generator.valid
    phases, _ = rec.build(PHASES)
    for got, want in zip(result.phases, phases, strict=True):
        assert got.counts == want.counts
        for clock in Clock:
            assert got.histograms[_key(clock)].encode() == want.latency(clock=clock).encode()
    steady = result.phases[1]
    assert steady.achieved_rps == pytest.approx(50.0, rel=0.05)  # over the 42 s it ran


def _key(clock: Clock) -> HistKey:
    return HistKey(ALL_ENDPOINTS, Outcome.OK, clock)


def test_rebuild_writes_an_incomplete_invalid_report(tmp_path: Path) -> None:
    """rebuild_report writes the family (INVALID, run.incomplete) and drops the partial log."""
    _interrupted_run(tmp_path)
    outcome = rebuild_report(tmp_path)
    assert outcome.verdict.status is VerdictStatus.INVALID
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["run"]["incomplete"] is True
    assert doc["verdict"] == "invalid"
    assert not (tmp_path / PARTIAL_LOG_FILE).exists()
    series = read_series(tmp_path / "latency.hlog")  # carries #[Run: ...]: rebuildable again
    assert series.meta["scenario"]["name"] == "steady"
    assert series[5].counts.ok > 0


def test_cli_rebuild_of_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    """`report rebuild` on a path that is no directory exits 2 with one line, no traceback."""
    result = CliRunner().invoke(cli, ["report", "rebuild", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "not a directory" in result.output
    assert "Traceback" not in result.output


def test_cli_rebuild_exits_3_and_says_incomplete(tmp_path: Path) -> None:
    """`report rebuild DIR` prints the INVALID verdict of an incomplete run and exits 3."""
    _interrupted_run(tmp_path, seconds=8)
    result = CliRunner().invoke(cli, ["report", "rebuild", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert "incomplete run" in result.output


def test_a_log_without_run_metadata_is_refused(tmp_path: Path) -> None:
    """A plain hlog (no #[Run: ...]) cannot be rebuilt: an ArtifactError, not a guess."""
    (tmp_path / "latency.hlog").write_text("#[Histogram log format version 1.3]\n")
    with pytest.raises(ArtifactError, match="Run"):
        rebuild_report(tmp_path)


STEADY = Path(__file__).resolve().parents[1] / "scenarios" / "steady.yaml"


def _interrupt_run_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seconds: int | None
) -> RunInterrupted:
    """pipeline.run whose load streams ``seconds`` of intervals (None: none) and then gets
    SIGTERM (as harness.cli turns it into KeyboardInterrupt); the RunInterrupted it raises."""

    def measure(*_: object, **__: object) -> None:
        if seconds is not None:
            _interrupted_run(tmp_path / "out", seconds)
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr(pipeline, "_measure", measure)
    request = pipeline.RunRequest(STEADY, target="http://127.0.0.1:9", out=tmp_path / "out")
    with pytest.raises(RunInterrupted) as info:
        pipeline.run(request)
    return info.value


def test_an_interrupted_run_saves_its_incomplete_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM mid-run: the run itself writes the verified, incomplete family and says why."""
    (tmp_path / "out").mkdir()
    exc = _interrupt_run_after(tmp_path, monkeypatch, 20)
    out = tmp_path / "out"
    assert str(exc).startswith("interrupted by SIGTERM after ")
    assert "partial results saved, marked incomplete (verdict INVALID)" in str(exc)
    assert exc.exit_code == 3  # not a pass: the CLI's table says "not measured"
    assert verify_report_dir(out).ok
    assert not (out / PARTIAL_LOG_FILE).exists()
    doc = json.loads((out / "report.json").read_text())
    assert doc["run"]["incomplete"] is True
    assert any(r.startswith("interrupted by SIGTERM after") for r in doc["verdict_reasons"])
    assert "interrupted by SIGTERM" in (out / "summary.md").read_text()


def test_a_salvage_past_its_time_bound_keeps_the_log_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing the partial report is bounded: past SALVAGE_TIMEOUT_S nothing half-written stays,
    the log is kept for `report rebuild`, and the message says so."""
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(rebuild_job, "SALVAGE_TIMEOUT_S", 0.01)
    exc = _interrupt_run_after(tmp_path, monkeypatch, 20)
    out = tmp_path / "out"
    assert "not finished within 0.01 s" in str(exc), exc
    assert f"slo-harness report rebuild {out}" in str(exc)
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["out", PARTIAL_LOG_FILE])
    series = read_series(out / PARTIAL_LOG_FILE)  # intact for `report rebuild`
    assert not series.complete
    assert len(series) > 0


def test_an_interruption_before_any_measurement_saves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted while the service was starting: nothing measured, nothing claimed."""
    exc = _interrupt_run_after(tmp_path, monkeypatch, None)
    assert "nothing was measured yet, so nothing was saved" in str(exc)
    assert not (tmp_path / "out").exists()
