"""`audit replay --jobs N` splits a directory by stream across processes, same answers."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from harness.audit import Thresholds, default_model_file, open_model, replay_directory
from reference_service.testing import AUDIT_KEY, THRESHOLDS, drive, rechain


def test_parallel_replay_gives_the_serial_answer(tmp_path: Path) -> None:
    """Two streams replayed by two processes: same counts and stream heads as one process, and
    a forged record in the second stream is listed by both."""
    trail = tmp_path / "audit"
    drive(trail, 300, stream_id="w1-aaaa", concurrency=16)
    drive(trail, 300, stream_id="w2-bbbb", seed=15, concurrency=16)

    def forge(rec: dict[str, Any]) -> None:
        x = np.frombuffer(base64.b64decode(rec["features"]), dtype="<f4").copy()
        x[0], x[1], x[2] = 9.5, 3.0, 0.0
        rec["features"] = base64.b64encode(x.tobytes()).decode()
        rec["feature_hash"] = hashlib.sha256(x.tobytes()).hexdigest()

    rechain(trail, 11, forge, stream="w2-bbbb")
    model = open_model(default_model_file())  # type: ignore[arg-type]
    th = Thresholds(version=THRESHOLDS.version, review=THRESHOLDS.review, decline=0.2)
    serial = replay_directory(trail, AUDIT_KEY, [model], [th])
    parallel = replay_directory(trail, AUDIT_KEY, [model], [th], jobs=2)
    assert serial.audit.ok
    assert parallel.audit.streams == serial.audit.streams
    assert (parallel.replayed, parallel.reproduced) == (serial.replayed, serial.reproduced)
    assert (parallel.replayed, parallel.reproduced) == (600, 599)
    assert parallel.mismatches == serial.mismatches
    assert [(m.stream, m.seq) for m in parallel.mismatches] == [("w2-bbbb", 11)]
