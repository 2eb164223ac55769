"""slo-harness gameday without load: --dry-run, --export, exit 2 for a bad file, exit 3 for a
fault this build cannot inject; the live views render a controller's state."""

from __future__ import annotations

import io
import time
from pathlib import Path

from click.testing import CliRunner
from gd_support import sample
from rich.console import Console

from harness.chaos import FakeFault
from harness.chaos.gameday import GameDayController, LineView, RichView, StepGuard, make_plan
from harness.chaos.gameday.controller import ScheduledFault
from harness.cli import cli
from harness.ledger import Ledger
from harness.spec.gameday import load_gameday

ROOT = Path(__file__).resolve().parents[2]
STALL = ROOT / "scenarios" / "gamedays" / "service-stall.yaml"


def test_dry_run_prints_the_timeline_and_touches_nothing(tmp_path: Path) -> None:
    """--dry-run prints hypothesis, load, steps with scaled times and abort conditions; exit 0;
    nothing is written, the ledger is not even created."""
    result = CliRunner().invoke(
        cli,
        ["gameday", str(STALL), "--dry-run", "--time-scale", "0.1"],
        env={"SLO_HARNESS_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "game day: Service stall (GC-like pause)" in out
    assert "3.0  inject  stop-the-world pause: pause the service (sigstop) for 1 s" in out
    assert "abort when: error rate > 0.05 for 3 s" in out
    assert not (tmp_path / "state").exists()


def test_export_writes_manifests_next_to_a_dry_run(tmp_path: Path) -> None:
    """--export chaos-mesh DIR writes the manifests (paths printed)."""
    result = CliRunner().invoke(
        cli, ["gameday", str(STALL), "--dry-run", "--export", "chaos-mesh", str(tmp_path / "k8s")]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "k8s").iterdir()) == [
        "01-stop-the-world-pause.yaml",
        "workflow.yaml",
    ]


def test_a_bad_file_is_exit_2_with_file_and_field(tmp_path: Path) -> None:
    """A typo in the fault kind: one line naming file, path and the choices; exit 2."""
    bad = tmp_path / "gd.yaml"
    bad.write_text(STALL.read_text().replace("kind: pause", "kind: pasue"))
    bad_load = tmp_path / "steady.yaml"
    bad_load.write_text((ROOT / "scenarios/steady.yaml").read_text())
    (tmp_path / "slo").mkdir()
    (tmp_path / "slo/default.yaml").write_text((ROOT / "scenarios/slo/default.yaml").read_text())
    text = (
        bad.read_text()
        .replace("../slo/default.yaml", "slo/default.yaml")
        .replace("../steady.yaml", "steady.yaml")
    )
    bad.write_text(text)
    result = CliRunner().invoke(cli, ["gameday", str(bad), "--dry-run"])
    assert result.exit_code == 2
    assert "gd.yaml: $.timeline[0].fault.kind" in result.output
    assert "Traceback" not in result.output


MIXED = """\
apiVersion: slo-harness/gameday/v1
title: loss and a slow feature store
owner: ci
hypothesis: {hyp}
load: {load}
blast_radius: {{targets: [network, feature_store]}}
timeline:
  - {{name: loss, at: 10s, for: 10s, fault: {{kind: loss, percent: 5}}}}
  - {{name: slow store, at: 30s, for: 10s,
     fault: {{kind: latency, target: feature_store, latency_ms: 100}}}}
"""


def test_feature_store_and_network_faults_in_one_gameday_are_refused(tmp_path: Path) -> None:
    """The lab's service namespace cannot reach the feature-store proxy: exit 2 before anything
    starts (dry run included), naming the file, the step's field and the fix."""
    gd = tmp_path / "gd.yaml"
    gd.write_text(
        MIXED.format(hyp=ROOT / "scenarios/slo/default.yaml", load=ROOT / "scenarios/steady.yaml")
    )
    result = CliRunner().invoke(
        cli, ["gameday", str(gd), "--dry-run"], env={"SLO_HARNESS_STATE_DIR": str(tmp_path / "s")}
    )
    assert result.exit_code == 2, result.output
    assert "gd.yaml: $.timeline[1].fault.target: feature-store faults and network faults" in (
        result.output
    )
    assert "split them into two game days" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "s").exists()


def test_views_render_the_controller_state(tmp_path: Path) -> None:
    """The rich panel and the plain lines show rate, p99, the active step with time left and
    the abort conditions."""
    plan = make_plan(load_gameday(STALL), 0.1)
    fault = FakeFault("pause")
    ctl = GameDayController(
        plan,
        [ScheduledFault(plan.steps[0], fault)],
        lambda clock: StepGuard(Ledger(tmp_path / "state"), clock),
    )
    ctl.started(time.time_ns(), plan.warmup_s)
    ctl.tick(plan.steps[0].start_s)
    ctl.interval(sample(int(plan.steps[0].start_s), ok=300, slow=10))
    buffer = io.StringIO()
    view = RichView(Console(file=buffer, force_terminal=True, width=140), 50.0)
    view.update(ctl)
    view.close()
    text = buffer.getvalue()
    assert "stop-the-world pause" in text
    assert "ACTIVE" in text
    assert "error rate > 0.05 for 3 s" in text
    lines = io.StringIO()
    LineView(lines).update(ctl)
    assert "ACTIVE" in lines.getvalue()
    assert "p99" in lines.getvalue()
    ctl.guard.rollback_all()
    assert not fault.active
