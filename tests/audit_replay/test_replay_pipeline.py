"""Embedded runs judge "decisions reproducible": check_audit_trail replays the run's trail."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from harness.audit import check_audit_trail
from harness.testing import lognormal_us, phase, run_result
from reference_service.decision import DEFAULT_THRESHOLDS
from reference_service.testing import AUDIT_KEY, drive, rechain

N = 400


def _result() -> Any:
    return run_result(phase("steady", ok=lognormal_us(N, median_ms=5, seed=3)))


def test_intact_trail_passes_with_every_decision_reproduced(tmp_path: Path) -> None:
    """A trail the embedded service would write (default thresholds) is intact and reproduces."""
    trail = drive(tmp_path / "audit", N, thresholds=DEFAULT_THRESHOLDS, concurrency=16)
    check = check_audit_trail(trail.directory, AUDIT_KEY, _result())
    assert check.intact, check.problems
    assert check.records == N


def test_forged_decision_fails_the_audit_objective(tmp_path: Path) -> None:
    """A re-MACed record whose vector no longer gives its score fails the audit objective, the
    problem naming the record."""
    trail = drive(tmp_path / "audit", N, thresholds=DEFAULT_THRESHOLDS, concurrency=16)

    def card_present_to_not_present(rec: dict[str, Any]) -> None:
        x = np.frombuffer(base64.b64decode(rec["features"]), dtype="<f4").copy()
        x[0], x[1], x[2] = 9.5, 3.0, 0.0  # a large, high-risk, card-not-present purchase
        rec["features"] = base64.b64encode(x.tobytes()).decode()
        rec["feature_hash"] = hashlib.sha256(x.tobytes()).hexdigest()

    rechain(trail.directory, 7, card_present_to_not_present)
    check = check_audit_trail(trail.directory, AUDIT_KEY, _result())
    assert not check.intact
    (problem,) = check.problems
    assert "1 of 400 decisions do not reproduce" in problem
    assert "seq 7" in problem
