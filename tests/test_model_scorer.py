"""Scorers: the committed ONNX model, its integrity check against the card, and the fake."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reference_service.model.features import FEATURE_NAMES, N_FEATURES, encode_batch
from reference_service.model.generator import generate
from reference_service.model.scorer import (
    FakeScorer,
    ModelIntegrityError,
    ModelLoadError,
    OnnxScorer,
    Scorer,
    default_model_path,
)


@pytest.fixture(scope="module")
def scorer() -> OnnxScorer:
    return OnnxScorer.load()


def _card() -> dict[str, Any]:
    card: dict[str, Any] = json.loads(default_model_path().with_name("model_card.json").read_text())
    return card


def test_committed_model_matches_its_card() -> None:
    """The committed fraud.onnx hashes to the SHA-256 and features its model card records."""
    card = _card()
    assert hashlib.sha256(default_model_path().read_bytes()).hexdigest() == card["sha256"]
    assert tuple(card["feature_names"]) == FEATURE_NAMES
    assert card["input"] == {"name": "input", "datatype": "FP32", "shape": [-1, N_FEATURES]}
    md = default_model_path().with_name("MODEL_CARD.md").read_text()
    assert str(card["sha256"]) in md


def test_load_reports_version_with_digest(scorer: OnnxScorer) -> None:
    """ModelInfo carries the card version plus the first 12 hex digits of the file's SHA-256."""
    card = _card()
    info = scorer.info
    assert info.name == "fraud"
    assert info.sha256 == card["sha256"]
    assert info.version == f"{card['version']}+{info.sha256[:12]}"
    assert info.feature_names == FEATURE_NAMES
    assert (info.input_name, info.output_name) == ("input", "probabilities")


def test_scores_are_probabilities_and_separate_fraud(scorer: OnnxScorer) -> None:
    """On fresh data (unseen seed) scores lie in [0, 1] and rank fraud above legit (AUC > 0.75)."""
    data = generate(20_000, seed=424_242)
    x = encode_batch(data.rows)
    p = scorer.score(x)
    assert p.shape == (len(data.rows),)
    assert ((p >= 0) & (p <= 1)).all()
    proba = scorer.probabilities(x)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(proba[:, 1], p)
    # AUC as the probability that a fraud outranks a legit transaction (Mann-Whitney).
    y = data.labels.astype(bool)
    ranks = np.argsort(np.argsort(p)) + 1
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    auc = (ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    assert auc > 0.75


def test_degraded_rows_score_and_differ_from_full_rows(scorer: OnnxScorer) -> None:
    """A row whose velocity is NaN still scores, and the missing branch is really taken."""
    row = np.zeros((1, N_FEATURES), dtype=np.float32)
    row[0, FEATURE_NAMES.index("vel_count_1h")] = 9.0
    degraded = row.copy()
    degraded[0, FEATURE_NAMES.index("vel_count_1h") :] = np.nan
    full_p, degraded_p = scorer.score_one(row[0]), scorer.score_one(degraded[0])
    assert 0.0 <= degraded_p <= 1.0
    assert full_p != degraded_p


def test_binding_path_equals_the_public_run(scorer: OnnxScorer) -> None:
    """Scores through the session's binding are bit-equal to InferenceSession.run's, missing
    values and batches included, and a session without a binding uses the public run."""
    rng = np.random.default_rng(3)
    x = rng.uniform(-2.0, 50.0, size=(64, N_FEATURES)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = np.nan
    public = scorer._session.run(["probabilities"], {"input": x})[0]
    assert np.array_equal(scorer.probabilities(x), public)
    assert all(scorer.score_one(row) == p for row, p in zip(x, public[:, 1], strict=True))

    class PublicOnly:
        def __init__(self, inner: Any) -> None:
            self.run = inner.run

    plain = OnnxScorer(PublicOnly(scorer._session), scorer.info)
    assert np.array_equal(plain.probabilities(x), public)


def test_score_rejects_wrong_shape_or_dtype(scorer: OnnxScorer) -> None:
    """A matrix with the wrong width or dtype is refused with a clear ValueError."""
    with pytest.raises(ValueError, match=f"shape \\(n, {N_FEATURES}\\)"):
        scorer.score(np.zeros((1, N_FEATURES + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="float32"):
        scorer.score(np.zeros((1, N_FEATURES), dtype=np.float64))


def test_warm_runs_without_error(scorer: OnnxScorer) -> None:
    """warm() completes and leaves the scorer usable."""
    scorer.warm(10)
    assert 0.0 <= scorer.score_one(np.zeros(N_FEATURES, dtype=np.float32)) <= 1.0


def _copy_model(tmp_path: Path) -> Path:
    for name in ("fraud.onnx", "model_card.json"):
        shutil.copy(default_model_path().with_name(name), tmp_path / name)
    return tmp_path / "fraud.onnx"


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    """One flipped byte in the model fails loading with both digests in the message."""
    path = _copy_model(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="SHA-256") as err:
        OnnxScorer.load(path)
    assert str(_card()["sha256"]) in str(err.value)


def test_missing_or_broken_card_is_refused(tmp_path: Path) -> None:
    """No card, an unreadable card, or a card without sha256 each give a ModelLoadError."""
    path = _copy_model(tmp_path)
    card_path = tmp_path / "model_card.json"
    card_path.unlink()
    with pytest.raises(ModelLoadError, match="not found"):
        OnnxScorer.load(path)
    card_path.write_text("{not json")
    with pytest.raises(ModelLoadError, match="unreadable"):
        OnnxScorer.load(path)
    card_path.write_text(json.dumps({"version": "1"}))
    with pytest.raises(ModelLoadError, match="sha256"):
        OnnxScorer.load(path)


def test_feature_mismatch_is_refused(tmp_path: Path) -> None:
    """A card listing other features than this build encodes is refused."""
    path = _copy_model(tmp_path)
    card = _card()
    card["feature_names"] = list(reversed(FEATURE_NAMES))
    (tmp_path / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelLoadError, match="features"):
        OnnxScorer.load(path)


def test_missing_model_file_is_refused(tmp_path: Path) -> None:
    """A model path that does not exist gives a ModelLoadError naming it."""
    with pytest.raises(ModelLoadError, match="cannot read model"):
        OnnxScorer.load(tmp_path / "nope.onnx")


def test_fake_scorer_is_deterministic_and_typed_as_a_scorer() -> None:
    """FakeScorer gives the same documented scores for the same input and satisfies Scorer."""
    fake: Scorer = FakeScorer()
    x = encode_batch(generate(200, seed=3).rows)
    p1, p2 = fake.score(x), fake.score(x)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_allclose(p1, FakeScorer.expected(x))
    assert ((p1 > 0) & (p1 < 1)).all()
    assert len(np.unique(p1)) > 10  # depends on the input, not a constant
    np.testing.assert_allclose(fake.probabilities(x).sum(axis=1), 1.0, atol=1e-6)
    assert fake.score_one(x[0]) == pytest.approx(float(p1[0]))
    assert fake.info.sha256 == "0" * 64


def test_fake_scorer_fixed_score_delay_and_failure() -> None:
    """fixed_score overrides, delay_s blocks at least that long, fail raises the given error."""
    x = np.zeros((3, N_FEATURES), dtype=np.float32)
    fake = FakeScorer(fixed_score=0.9, delay_s=0.02)
    start = time.perf_counter()
    np.testing.assert_array_equal(fake.score(x), [0.9, 0.9, 0.9])
    assert time.perf_counter() - start >= 0.02
    assert fake.calls == 3
    fake.warm(5)
    assert fake.warmed == 5
    failing = FakeScorer(fail=RuntimeError("model exploded"))
    with pytest.raises(RuntimeError, match="model exploded"):
        failing.score(x)
    with pytest.raises(ValueError, match="fixed_score"):
        FakeScorer(fixed_score=1.5)
