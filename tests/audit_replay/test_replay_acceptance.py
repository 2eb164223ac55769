"""Issue 14's acceptance: every decision of a real trail reproduces from its record alone; a forged
vector, another model file and a missing rule set are caught; the dossier shows every section and
no card number.

The trail is written once per module by the service's own pipeline
(``reference_service.testing.drive``: 3,000 decisions, degraded ones included, every decision
class), then copied for each damaging test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from harness.audit import default_model_file, open_model, replay_directory, verify_directory
from harness.audit.rules import Thresholds
from harness.cli import cli
from harness.report import check_no_pans
from reference_service.testing import (
    AUDIT_KEY,
    SENT_PANS,
    THRESHOLDS,
    DrivenTrail,
    drive,
    key_file,
    rechain,
    thresholds_file,
)

N_DECISIONS = 3000


@pytest.fixture(scope="module")
def driven(tmp_path_factory: pytest.TempPathFactory) -> DrivenTrail:
    return drive(tmp_path_factory.mktemp("trail") / "audit", N_DECISIONS)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "key": key_file(tmp_path / "audit.key"),
        "thresholds": thresholds_file(tmp_path / "thresholds.json"),
    }


def _replay(trail: Path, files: dict[str, Path], *extra: str) -> Any:
    args = ["audit", "replay", str(trail), "--key-file", str(files["key"])]
    return CliRunner().invoke(cli, [*args, "--thresholds", str(files["thresholds"]), *extra])


def _records(trail: Path) -> list[dict[str, Any]]:
    return [
        json.loads(x) for p in sorted(trail.glob("*.jsonl")) for x in p.read_bytes().splitlines()
    ]


def test_every_decision_of_the_trail_reproduces(
    driven: DrivenTrail, files: dict[str, Path]
) -> None:
    """3,000 decisions (every class, degraded ones) replay to the same score, decision and
    reason codes: exit 0, and the records are format 3 with the vector and its schema."""
    assert set(driven.decisions) == {"approve", "review", "decline"}
    assert min(driven.decisions.values()) >= 50
    assert driven.degraded >= 50
    records = _records(driven.directory)
    assert len(records) == N_DECISIONS
    assert all(r["v"] == 3 and r["feature_schema"] == "fraud-features-1" for r in records)
    degraded = [r for r in records if r["degraded"]]
    assert all(r["reason_codes"][0] == "FEATURES_UNAVAILABLE" for r in degraded)
    assert all("vel_count_1h" in r["missing_features"] for r in degraded)
    result = _replay(driven.directory, files)
    assert result.exit_code == 0, result.output
    assert f"{N_DECISIONS} of {N_DECISIONS} decisions reproduce" in result.output


def test_forged_vector_is_a_mismatch(
    driven: DrivenTrail, files: dict[str, Path], tmp_path: Path
) -> None:
    """A record whose amount feature was changed, feature_hash recomputed and the chain re-MACed
    (a forger with the key) verifies intact but does not replay: exit 1 names its seq."""
    import base64

    import numpy as np

    trail = tmp_path / "forged"
    shutil.copytree(driven.directory, trail)
    target = next(r for r in _records(trail) if r["decision"] == "approve" and not r["degraded"])

    def raise_amount(rec: dict[str, Any]) -> None:
        x = np.frombuffer(base64.b64decode(rec["features"]), dtype="<f4").copy()
        x[0] = 9.5  # amount_usd_log: about 13,000 USD instead of a small purchase
        rec["features"] = base64.b64encode(x.tobytes()).decode()
        rec["feature_hash"] = hashlib.sha256(x.tobytes()).hexdigest()

    rechain(trail, target["seq"], raise_amount)
    assert verify_directory(trail, AUDIT_KEY).ok
    result = _replay(trail, files)
    assert result.exit_code == 1, result.output
    assert f"{N_DECISIONS - 1} of {N_DECISIONS} decisions reproduce" in result.output
    (line,) = [x for x in result.output.splitlines() if "MISMATCH" in x]
    assert f"seq {target['seq']} " in line
    assert target["transaction_id"] in line
    assert "score" in line


def test_another_model_file_is_refused(
    driven: DrivenTrail, files: dict[str, Path], tmp_path: Path
) -> None:
    """A valid ONNX model with another SHA-256 is refused (exit 2), naming both digests."""
    onnx = pytest.importorskip("onnx")
    packaged = default_model_file()
    assert packaged is not None
    model = onnx.load(str(packaged))
    model.doc_string = "retrained elsewhere"
    other = tmp_path / "other.onnx"
    onnx.save(model, str(other))
    other_sha = hashlib.sha256(other.read_bytes()).hexdigest()
    recorded = _records(driven.directory)[0]["model_sha256"]
    assert other_sha != recorded
    result = _replay(driven.directory, files, "--model", str(other))
    assert result.exit_code == 2, result.output
    assert other_sha in result.output
    assert recorded in result.output
    same = tmp_path / "copy.onnx"
    shutil.copyfile(packaged, same)
    assert _replay(driven.directory, files, "--model", str(same)).exit_code == 0


def test_missing_thresholds_version_is_refused(driven: DrivenTrail, files: dict[str, Path]) -> None:
    """Without the thresholds file of the version the records name, replay refuses (exit 2)."""
    args = ["audit", "replay", str(driven.directory), "--key-file", str(files["key"])]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert THRESHOLDS.version in result.output


def test_replay_scores_in_batches_as_fast_as_batch_one(driven: DrivenTrail) -> None:
    """The library call reports every record reproduced and a records/s figure (the benchmark
    publishes it); batch scoring gives the service's own batch-1 scores exactly."""
    model = open_model(default_model_file())  # type: ignore[arg-type]
    th = Thresholds(version=THRESHOLDS.version, review=THRESHOLDS.review, decline=0.2)
    report = replay_directory(driven.directory, AUDIT_KEY, [model], [th], tolerance=0.0)
    assert report.ok
    assert report.reproduced == N_DECISIONS
    assert report.records_per_s > 0


@pytest.mark.parametrize("fmt", ["text", "json", "html"])
def test_show_renders_every_section_without_card_data(
    driven: DrivenTrail, files: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    """`audit show` of a degraded decline prints the record, chain position and head, model card,
    thresholds, named features, replay and explained reasons; at most the last 4 digits of a
    card, nothing the PAN scanner flags (also `slo-harness pci scan` on the written file)."""
    records = _records(driven.directory)
    rec = next(r for r in records if r["degraded"] and r["decision"] == "decline")
    out = tmp_path / f"dossier.{fmt}"
    args = ["audit", "show", str(driven.directory), rec["transaction_id"], "--key-file",
            str(files["key"]), "--thresholds", str(files["thresholds"]), "--format", fmt,
            "--out", str(out)]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    text = out.read_text()
    needles = ("Chain position", "leads to head", rec["mac"], rec["prev"], "Model",
               "GradientBoostingClassifier", "Thresholds", THRESHOLDS.version, "Reproduction",
               "REPRODUCED", "vel_count_1h", "NaN (missing)", "FEATURES_UNAVAILABLE",
               "feature store did not answer", "SCORE_ABOVE_DECLINE",
               f"**** {rec['last4']}")  # fmt: skip
    for needle in needles:
        assert needle in text, needle
    check_no_pans({out.name: text})  # the report writers' guard: raises on a candidate
    assert not any(pan in text for pan in SENT_PANS)
    scan = CliRunner().invoke(cli, ["pci", "scan", str(out)])
    assert scan.exit_code == 0, scan.output
    if fmt == "json":
        doc = json.loads(text)
        assert doc["dossiers"][0]["verdict"] == "REPRODUCED"


def test_show_of_an_unknown_transaction_exits_1(
    driven: DrivenTrail, files: dict[str, Path]
) -> None:
    """A transaction id with no verified record is a finding (exit 1), not a crash."""
    args = ["audit", "show", str(driven.directory), "tx-nope", "--key-file", str(files["key"])]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "no verified record" in result.output


def test_skip_pan_scan_still_checks_the_chain(
    driven: DrivenTrail, files: dict[str, Path], tmp_path: Path
) -> None:
    """`--skip-pan-scan` reproduces an intact trail (exit 0) and still fails an edited record
    that was not re-MACed (TAMPERED, exit 1)."""
    assert _replay(driven.directory, files, "--skip-pan-scan").exit_code == 0
    trail = tmp_path / "edited"
    shutil.copytree(driven.directory, trail)
    (segment,) = sorted(trail.glob("*.jsonl"))
    data = segment.read_bytes()
    segment.write_bytes(data.replace(b'"decision":"decline"', b'"decision":"approve"', 1))
    result = _replay(trail, files, "--skip-pan-scan")
    assert result.exit_code == 1
    assert "TAMPERED" in result.output
