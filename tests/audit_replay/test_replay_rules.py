"""The auditor's copy of the decision rules agrees with the service's, and replay's edges."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.audit import open_model
from harness.audit.rules import (
    DEFAULT_THRESHOLDS,
    FEATURE_SCHEMAS,
    REASON_TEXT,
    Thresholds,
    decide,
    load_thresholds,
    reason_codes,
    schema_columns,
)
from harness.errors import SpecError, UsageError
from reference_service import decision as service
from reference_service.model import FEATURE_NAMES, FEATURE_SCHEMA

COLUMNS = schema_columns(FEATURE_SCHEMA)


def test_schema_and_default_thresholds_match_the_service() -> None:
    """The harness's copy of schema fraud-features-1 and of default-1 equal the service's, and
    every reason code the service can emit has an explanation."""
    assert COLUMNS == FEATURE_NAMES
    assert set(FEATURE_SCHEMAS) == {FEATURE_SCHEMA}
    assert msgspec.structs.asdict(DEFAULT_THRESHOLDS) == msgspec.structs.asdict(
        service.DEFAULT_THRESHOLDS
    )
    assert set(REASON_TEXT) == {r.value for r in service.Reason}


_value = st.one_of(
    st.just(math.nan),
    st.sampled_from([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 19.0, 20.0, 29.5, 30.0]),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, width=32),
)


@settings(max_examples=400, deadline=None)
@given(
    values=st.lists(_value, min_size=len(FEATURE_NAMES), max_size=len(FEATURE_NAMES)),
    score=st.floats(min_value=0, max_value=1, width=32),
    review=st.floats(min_value=0, max_value=0.5),
    velocity_1h=st.integers(1, 30),
)
def test_reason_codes_and_decisions_agree_with_the_service(
    values: list[float], score: float, review: float, velocity_1h: int
) -> None:
    """For any vector (NaN = missing), score and thresholds, the auditor derives the service's
    decision and reason codes."""
    ours = Thresholds(version="t", review=review, decline=0.85, velocity_1h=velocity_1h)
    theirs = service.Thresholds(version="t", review=review, decline=0.85, velocity_1h=velocity_1h)
    row = np.array(values, dtype=np.float32).tolist()  # as the service reads its vector
    d_theirs = service.decide(score, theirs)
    assert decide(score, ours) == d_theirs.value
    assert reason_codes(row, COLUMNS, d_theirs.value, ours) == service.reason_codes(
        row, d_theirs, theirs
    )


def test_unknown_schema_is_a_usage_error() -> None:
    """A record written with a schema this harness does not know cannot be replayed (exit 2)."""
    with pytest.raises(UsageError, match="fraud-features-9"):
        schema_columns("fraud-features-9")


def test_thresholds_file_errors_name_file_and_field(tmp_path: Path) -> None:
    """A bad thresholds file is a SpecError naming the file and the field path."""
    bad = tmp_path / "th.yaml"
    bad.write_text("version: x\nreview: 2\n")
    with pytest.raises(SpecError, match=r"th\.yaml: \$\.review"):
        load_thresholds(bad)
    inverted = tmp_path / "inv.json"
    inverted.write_text('{"version": "x", "review": 0.9, "decline": 0.5}')
    with pytest.raises(SpecError, match=r"\$\.review"):
        load_thresholds(inverted)


def test_missing_onnxruntime_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without ONNX Runtime, opening a model is exit 2 telling to install slo-harness[service];
    importing harness.audit itself never needs it."""
    model = tmp_path / "m.onnx"
    model.write_bytes(b"not used")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    with pytest.raises(UsageError, match=r"install slo-harness\[service\]"):
        open_model(model)


def test_harness_audit_imports_without_onnxruntime() -> None:
    """harness.audit and the CLI import without loading onnxruntime (it is lazy)."""
    import subprocess

    code = (
        "import sys, harness.audit, harness.cli, harness.pipeline; "
        "sys.exit(1 if 'onnxruntime' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


def test_format_2_trail_verifies_but_does_not_replay(tmp_path: Path) -> None:
    """The committed format-2 golden trail is intact, and replay says why its decisions cannot
    be reproduced (no vector: exit 1, every record listed), in text and JSON."""
    import json

    from click.testing import CliRunner

    from harness.cli import cli

    golden = Path(__file__).resolve().parent.parent / "golden" / "audit-v2"
    key = tmp_path / "k.key"
    key.write_text("5a" * 32)
    args = ["audit", "replay", str(golden), "--key-file", str(key), "--json"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    assert doc["ok"] is True  # the chain itself is intact
    replay = doc["replay"]
    assert (replay["ok"], replay["replayed"], replay["reproduced"]) == (False, 8, 0)
    assert all("format version 2" in m["differences"][0] for m in replay["mismatches"])
