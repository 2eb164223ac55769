"""A whole game day against the embedded reference service, as CI runs it: load throughout, a
real stall (the chaos core's pause: SIGSTOP of the service) injected and rolled back on the
timeline (time-scaled), detection and recovery in the journal and the report; an abort condition
that halts a game day within its window. (Ctrl-C in the middle of a fault, which judges no time,
is in test_gameday_ctrl_c.py, in the parallel pass.)"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gd_support import GAMEDAY
from run_support import run_measured

from harness.report import MANIFEST_FILE, verify_report_dir

ROOT = Path(__file__).resolve().parents[2]
#: The real command line, in a fresh process (Locust patches whatever imports it).
CLI = ("-m", "harness.cli")
REPORT_SCHEMA = ROOT / "harness" / "report" / "report.schema.json"


#: A second step for the full game day: kill -9 of the whole service, restarted by the harness.
KILL_STEP = """
  - {name: crash, at: 100s, for: 10s, fault: {kind: kill, scope: service, restart: true}}"""


def _run(tmp_path: Path, abort: str, duration: str, extra: str = "") -> tuple[int, Path, str]:
    """The game day in a fresh process; again (at most twice) if the load generator, not the
    code under test, made it unmeasurable (exit 3, journal ``generator_valid: false``)."""
    gd = tmp_path / "gd.yaml"
    gd.write_text(GAMEDAY.format(abort=abort, duration=duration, extra=extra))
    out = tmp_path / "out"
    env = {**os.environ, "SLO_HARNESS_STATE_DIR": str(tmp_path / "state")}
    proc = run_measured(
        [sys.executable, *CLI, "gameday", str(gd), "--out", str(out), "--time-scale",
         "0.1", "--no-progress"],
        out=out, timeout=180, env=env, cwd=tmp_path,
    )  # fmt: skip
    return proc.returncode, out, proc.stdout + proc.stderr


def _journal(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "journal.json").read_text())
    return data


@pytest.mark.slow
def test_a_full_gameday_shows_the_fault_window_detection_and_recovery(tmp_path: Path) -> None:
    """A 1.5 s SIGSTOP of the service (15 s at time scale 0.1) under 150 requests/s, then kill -9
    of the whole service (restarted at once by the harness): the journal says completed and
    deviated, the stall's expectations did not hold, the breach was detected within two windows
    and the steady state came back; the stall counted no degraded decision (read from the
    service's /metrics), the kill's count is "not reported" (the restart reset the counters);
    the service was ready again a measured time after the kill (a window on the timeline);
    both rollbacks are verified; the audit trail of both service processes (two streams)
    verifies intact with every decision reproducible; report.json (valid under its schema)
    carries the fault windows and the steps; the manifest covers journal.json; the ledger is
    empty. Exit 1: the hypothesis deviated."""
    # The abort condition lasts longer than the service's restart (a few seconds on a busy box).
    code, out, log = _run(tmp_path, "{signal: error_rate, above: 0.99, for: 80s}", "15s", KILL_STEP)
    assert code == 1, log
    journal = _journal(out)
    assert journal["status"] == "completed", log
    assert journal["deviated"] is True
    assert journal["time_scale"] == 0.1
    step, crash = journal["steps"]
    assert step["degraded_decisions"] == 0
    assert step["decisions_scored"] > 0
    assert crash["status"] == "succeeded"
    assert crash["degraded_decisions"] is None
    assert "restarted" in crash["degraded_note"]
    assert 0 < crash["restored_after_s"] < 15.0
    assert journal["audit"]["intact"] is True, journal["audit"]["problems"]
    assert journal["audit"]["streams"] == 2
    assert step["status"] == "succeeded"
    assert step["held"] is False
    injected, rolled = step["injected_at_s"], step["rolled_back_at_s"]
    assert injected == pytest.approx(6.0, abs=0.5)  # warm-up 2 s + 40 s x 0.1
    assert rolled - injected == pytest.approx(1.5, abs=0.5)
    assert step["detected_after_s"] is not None
    assert 0 < step["detected_after_s"] <= 2.5
    assert step["recovered_after_s"] is not None
    assert step["recovered_after_s"] <= 6.0
    assert step["latency_budget_burned"] > 0
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"] * 2
    assert all(r["verified_gone"] for r in journal["rollbacks"])
    assert journal["steady_states"]["during"]["held"] is False

    report = json.loads((out / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA.read_text())).validate(report)
    window, _crash, down = report["fault_windows"]
    assert down["end_s"] - down["start_s"] == pytest.approx(crash["restored_after_s"], abs=0.002)
    assert report["audit"]["intact"] is True
    assert report["gameday"]["audit_intact"] is True
    assert window["start_s"] == pytest.approx(injected, abs=0.001)  # report.json rounds to ms
    assert window["end_s"] == pytest.approx(rolled, abs=0.001)
    assert report["gameday"]["steps"][0]["held"] is False
    assert report["gameday"]["status"] == "completed"
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert "journal.json" in manifest["files"]
    assert verify_report_dir(out).ok
    assert not (out / "latency.partial.hlog").exists()  # streamed during the day, now latency.hlog
    summary = (out / "summary.md").read_text()
    assert "### Game day" in summary
    assert "| stall |" in summary
    assert "not reported" in summary  # the crash step's degraded count
    assert "Audit trail of the embedded service" in summary
    assert "Game day" in (out / "report.html").read_text()
    junit = (out / "junit.xml").read_text()
    assert '<testsuite name="gameday"' in junit
    assert 'type="gameday_deviation"' in junit  # the step's expectations did not hold
    assert list((tmp_path / "state" / "ledger").glob("*.json")) == []


@pytest.mark.slow
def test_an_abort_condition_halts_the_gameday_within_its_window(tmp_path: Path) -> None:
    """A stall meant to last 10 s (100 s scaled) with 'no OK response / p99 > 300 ms for 20 s'
    (3 s scaled: the floor of a scaled abort window): the condition trips about 3 s after the
    injection, the fault is rolled back
    within a second of the trip, the load stops early; journal status aborted, exit 1."""
    abort = "{signal: latency, percentile: p99, above_ms: 300, for: 20s}"
    code, out, log = _run(tmp_path, abort, "100s")
    assert code == 1, log
    assert (out / "journal.json").is_file(), log
    journal = _journal(out)
    assert journal["status"] == "aborted", log
    assert journal["abort"]["tripped"] == "p99 > 300 ms for 3 s"  # 20 s x 0.1, floor 3 intervals
    (step,) = journal["steps"]
    assert step["status"] == "cut_short"
    tripped = journal["abort"]["tripped_at_s"]
    assert 0 < tripped - step["injected_at_s"] <= 3.0 + 1.5  # its window plus one interval
    (rollback,) = journal["rollbacks"]
    assert rollback["status"] == "succeeded"
    assert rollback["verified_gone"] is True
    assert rollback["end_s"] - tripped < 1.0
    assert journal["duration"] < 2 + 4 + 10 + 6  # stopped before the planned end
    assert list((tmp_path / "state" / "ledger").glob("*.json")) == []
