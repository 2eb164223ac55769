"""Training: ONNX/sklearn parity with NaN rows, reproducibility by seed, the CLI artifacts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from reference_service.model.features import FEATURE_NAMES, N_FEATURES
from reference_service.model.scorer import OnnxScorer, default_model_path
from reference_service.model.train import (
    TrainConfig,
    TrainedModel,
    export_onnx,
    fit,
    library_versions,
    main,
)

_DEGRADABLE = [
    i
    for i, name in enumerate(FEATURE_NAMES)
    if name.startswith(("vel_", "amount_vs")) or name in ("account_age_days", "device_known")
]


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    return fit(TrainConfig(rows=20_000, seed=11))


def _onnx_proba(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    out: np.ndarray = session.run(["probabilities"], {"input": x})[0]
    return out


def test_onnx_matches_sklearn_within_1e5_including_nan_rows(trained: TrainedModel) -> None:
    """ONNX and sklearn probabilities agree within 1e-5 on holdout rows and fully degraded rows."""
    holdout = trained.x_holdout
    degraded = holdout[:1000].copy()
    degraded[:, _DEGRADABLE] = np.nan
    all_nan = np.full((10, N_FEATURES), np.nan, dtype=np.float32)
    x = np.concatenate([holdout, degraded, all_nan]).astype(np.float32)
    assert x.shape[0] >= 5000
    assert np.isnan(holdout).any(axis=1).sum() > 100  # natural NaN rows from the generator
    p_onnx = _onnx_proba(export_onnx(trained.pipeline), x)
    p_skl = trained.pipeline.predict_proba(x)
    assert p_onnx.shape == p_skl.shape == (x.shape[0], 2)
    np.testing.assert_allclose(p_onnx, p_skl, rtol=0, atol=1e-5)
    # The imputed branch matters: degrading rows changes their scores.
    assert not np.allclose(p_skl[len(holdout) : len(holdout) + 1000, 1], p_skl[:1000, 1])


def test_holdout_auc_beats_chance_clearly(trained: TrainedModel) -> None:
    """The small model already separates fraud (holdout AUC > 0.75)."""
    assert trained.holdout_auc > 0.75
    assert 0.01 <= trained.fraud_rate <= 0.03


def test_same_seed_reproduces_auc_predictions_and_bytes() -> None:
    """Two fits with one seed give the same AUC, predictions and ONNX bytes; another seed not."""
    cfg = TrainConfig(rows=8_000, seed=5)
    a, b = fit(cfg), fit(cfg)
    assert a.holdout_auc == b.holdout_auc
    np.testing.assert_array_equal(a.x_holdout, b.x_holdout)
    np.testing.assert_array_equal(
        a.pipeline.predict_proba(a.x_holdout), b.pipeline.predict_proba(b.x_holdout)
    )
    assert export_onnx(a.pipeline) == export_onnx(b.pipeline)
    c = fit(TrainConfig(rows=8_000, seed=6))
    assert export_onnx(c.pipeline) != export_onnx(a.pipeline)


def test_cli_writes_loadable_artifacts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`train --out DIR` writes the model, a card with its SHA-256, and the Markdown card."""
    assert main(["--out", str(tmp_path), "--rows", "5000", "--seed", "3"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "MODEL_CARD.md",
        "fraud.onnx",
        "model_card.json",
    ]
    card = json.loads((tmp_path / "model_card.json").read_text())
    digest = hashlib.sha256((tmp_path / "fraud.onnx").read_bytes()).hexdigest()
    assert card["sha256"] == digest
    assert card["generator"] == {
        "module": "reference_service.model.generator",
        "seed": 3,
        "rows": 5000,
        "fraud_rate": card["generator"]["fraud_rate"],
    }
    assert card["holdout"]["auc"] == pytest.approx(card["holdout"]["auc_onnx"], abs=1e-4)
    assert card["holdout"]["max_abs_diff_onnx_vs_sklearn"] < 1e-5
    assert card["feature_names"] == list(FEATURE_NAMES)
    assert digest in (tmp_path / "MODEL_CARD.md").read_text()
    assert OnnxScorer.load(tmp_path / "fraud.onnx").info.sha256 == digest
    assert digest in capsys.readouterr().out


def test_cli_refuses_too_few_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--rows below 1000 is a usage error (exit 2) and writes nothing."""
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path), "--rows", "10"])
    assert exc.value.code == 2
    assert "--rows" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_committed_model_is_reproducible_from_its_card(tmp_path: Path) -> None:
    """Retraining with the card's seed and rows re-creates the committed model byte for byte."""
    card = json.loads(default_model_path().with_name("model_card.json").read_text())
    if card["versions"] != library_versions():
        pytest.skip(f"library versions differ from the card's {card['versions']}")
    gen = card["generator"]
    assert (
        main(["--out", str(tmp_path), "--rows", str(gen["rows"]), "--seed", str(gen["seed"])]) == 0
    )
    assert (tmp_path / "fraud.onnx").read_bytes() == default_model_path().read_bytes()
    assert (tmp_path / "model_card.json").read_text() == default_model_path().with_name(
        "model_card.json"
    ).read_text()
