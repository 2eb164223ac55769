"""Train the reference fraud model reproducibly and export it to ONNX with its model card.

Run ``python -m reference_service.model.train [--out DIR] [--rows N] [--seed S]``. The same seed
and row count give the same trees, the same holdout AUC and (with the pinned library versions in
the card) the same ``.onnx`` bytes, so the committed SHA-256 can be re-derived by anyone.

Why a ``GradientBoostingClassifier`` behind a constant imputer: skl2onnx 1.20 cannot convert
``HistGradientBoostingClassifier`` (the one sklearn booster that takes NaN natively), and
``GradientBoostingClassifier`` rejects NaN. Missing values therefore become the sentinel
:data:`MISSING_SENTINEL`, which lies below every value a feature can take, so a tree can route
"missing" to its own branch as a NaN-aware tree would. The imputer is part of the exported graph
(ONNX ``Imputer``), so callers send NaN and the service never imputes by itself.

Needs the ``train`` extra (scikit-learn, skl2onnx, onnx); the service never imports this module.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .features import FEATURE_DOCS, FEATURE_NAMES, N_FEATURES, encode_batch
from .generator import DEFAULT_SEED, generate

__all__ = [
    "INPUT_NAME",
    "MISSING_SENTINEL",
    "MODEL_VERSION",
    "OUTPUT_NAME",
    "TARGET_OPSET",
    "TrainConfig",
    "TrainedModel",
    "export_onnx",
    "fit",
    "library_versions",
    "main",
    "model_card",
    "write_artifacts",
]

MODEL_NAME = "fraud"
MODEL_VERSION = "1.0.0"
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
# Upper bounds: default opset 17, ai.onnx.ml 3 (skl2onnx picks the lowest each op needs), so any
# ONNX Runtime since 1.13 loads the model, as do the Triton/MLServer builds the harness may drive.
TARGET_OPSET: dict[str, int] = {"": 17, "ai.onnx.ml": 3}
# Below every feature's range: log-money >= 0, the amount ratio >= -log1p(float max) > -710,
# counts/hours/ages/flags >= 0.
MISSING_SENTINEL = -999.0
DEFAULT_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything that determines the trained model."""

    rows: int = DEFAULT_ROWS
    seed: int = DEFAULT_SEED
    n_estimators: int = 100
    max_depth: int = 4
    learning_rate: float = 0.1
    holdout_fraction: float = 0.2


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A fitted sklearn pipeline with its holdout data and score."""

    config: TrainConfig
    pipeline: Any  # sklearn Pipeline (untyped library)
    x_holdout: npt.NDArray[np.float32]
    y_holdout: npt.NDArray[np.int8]
    holdout_auc: float
    fraud_rate: float
    fit_seconds: float


def fit(config: TrainConfig) -> TrainedModel:
    """Generate data with ``config.seed``, fit the pipeline and score it on a seeded holdout."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline

    data = generate(config.rows, config.seed)
    x = encode_batch(data.rows)
    y = data.labels
    order = np.random.default_rng(config.seed + 1).permutation(len(y))
    n_hold = round(len(y) * config.holdout_fraction)
    hold, train = order[:n_hold], order[n_hold:]
    pipeline = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_SENTINEL)),
            (
                "gbt",
                GradientBoostingClassifier(
                    n_estimators=config.n_estimators,
                    max_depth=config.max_depth,
                    learning_rate=config.learning_rate,
                    random_state=config.seed,
                ),
            ),
        ]
    )
    start = time.perf_counter()
    pipeline.fit(x[train], y[train])
    fit_seconds = time.perf_counter() - start
    auc = float(roc_auc_score(y[hold], pipeline.predict_proba(x[hold])[:, 1]))
    return TrainedModel(
        config=config,
        pipeline=pipeline,
        x_holdout=x[hold],
        y_holdout=y[hold],
        holdout_auc=auc,
        fraud_rate=data.fraud_rate,
        fit_seconds=fit_seconds,
    )


def export_onnx(pipeline: Any) -> bytes:
    """Convert the pipeline to ONNX: input ``input`` FP32 [None, F], output ``probabilities``."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    model = to_onnx(
        pipeline,
        initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))],
        options={id(pipeline.steps[-1][1]): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    model.doc_string = f"{MODEL_NAME} {MODEL_VERSION}: features {','.join(FEATURE_NAMES)}"
    # skl2onnx collects opset imports in a set, whose order follows PYTHONHASHSEED: sort them so
    # the same model always serialises to the same bytes (and the same SHA-256).
    imports = sorted(model.opset_import, key=lambda op: op.domain)
    del model.opset_import[:]
    model.opset_import.extend(imports)
    outputs = [o.name for o in model.graph.output]
    if OUTPUT_NAME not in outputs:  # pragma: no cover - guards a converter change
        raise RuntimeError(f"converted model lacks output {OUTPUT_NAME!r}: {outputs}")
    return bytes(model.SerializeToString())


def library_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import skl2onnx
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def _opsets(onnx_bytes: bytes) -> dict[str, int]:
    """The opset each domain of the serialised model imports (may be below TARGET_OPSET)."""
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    return {op.domain or "ai.onnx": int(op.version) for op in model.opset_import}


def _onnx_auc(onnx_bytes: bytes, trained: TrainedModel) -> tuple[float, float]:
    """Holdout AUC of the exported graph and its max |p_onnx - p_sklearn| on the holdout."""
    import onnxruntime as ort
    from sklearn.metrics import roc_auc_score

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    p_onnx = session.run([OUTPUT_NAME], {INPUT_NAME: trained.x_holdout})[0][:, 1]
    p_skl = trained.pipeline.predict_proba(trained.x_holdout)[:, 1]
    diff = float(np.max(np.abs(p_onnx.astype(np.float64) - p_skl)))
    return float(roc_auc_score(trained.y_holdout, p_onnx)), diff


def model_card(trained: TrainedModel, onnx_bytes: bytes) -> dict[str, Any]:
    """The model card as a JSON-ready dict (no timestamps: reruns give identical cards)."""
    cfg = trained.config
    onnx_auc, max_diff = _onnx_auc(onnx_bytes, trained)
    return {
        "name": MODEL_NAME,
        "version": MODEL_VERSION,
        "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "file": "fraud.onnx",
        "format": "onnx",
        "opset": _opsets(onnx_bytes),
        "input": {"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, N_FEATURES]},
        "output": {"name": OUTPUT_NAME, "datatype": "FP32", "shape": [-1, 2]},
        "feature_names": list(FEATURE_NAMES),
        "missing_values": f"NaN, imputed in-graph to {MISSING_SENTINEL}",
        "estimator": {
            "type": "sklearn.ensemble.GradientBoostingClassifier",
            "n_estimators": cfg.n_estimators,
            "max_depth": cfg.max_depth,
            "learning_rate": cfg.learning_rate,
            "random_state": cfg.seed,
        },
        "generator": {
            "module": "reference_service.model.generator",
            "seed": cfg.seed,
            "rows": cfg.rows,
            "fraud_rate": round(trained.fraud_rate, 6),
        },
        "holdout": {
            "fraction": cfg.holdout_fraction,
            "rows": len(trained.y_holdout),
            "auc": round(trained.holdout_auc, 6),
            "auc_onnx": round(onnx_auc, 6),
            "max_abs_diff_onnx_vs_sklearn": max_diff,
        },
        "versions": library_versions(),
    }


def _markdown(card: dict[str, Any]) -> str:
    rows = "\n".join(
        f"| {i} | `{name}` | {FEATURE_DOCS[name]} |" for i, name in enumerate(card["feature_names"])
    )
    opset = ", ".join(f"{domain} {v}" for domain, v in card["opset"].items())
    versions = ", ".join(f"{k} {v}" for k, v in card["versions"].items())
    est, gen, hold = card["estimator"], card["generator"], card["holdout"]
    return f"""# Model card: {card["name"]} {card["version"]}

Reference fraud classifier of the slo-harness demo service. Trained on synthetic transactions only
(`{gen["module"]}`); it is a load-testing fixture, not a production risk model.

- File: `{card["file"]}`, SHA-256 `{card["sha256"]}`
- Estimator: {est["type"]}, {est["n_estimators"]} trees, depth {est["max_depth"]}, \
learning rate {est["learning_rate"]}, random_state {est["random_state"]}
- ONNX opsets: {opset}; input `{card["input"]["name"]}` FP32 {card["input"]["shape"]}, \
output `{card["output"]["name"]}` FP32 {card["output"]["shape"]} (zipmap disabled; column 1 = fraud)
- Missing values: {card["missing_values"]}
- Generator seed {gen["seed"]}, {gen["rows"]} rows, fraud rate {gen["fraud_rate"]:.4f}
- Holdout ({hold["fraction"]:.0%}, {hold["rows"]} rows): AUC {hold["auc"]:.4f} (sklearn), \
{hold["auc_onnx"]:.4f} (ONNX); max |ONNX - sklearn| = {hold["max_abs_diff_onnx_vs_sklearn"]:.2e}
- Library versions: {versions}

Reproduce: `python -m reference_service.model.train --rows {gen["rows"]} --seed {gen["seed"]}`.

## Features (input column order)

| Column | Feature | Meaning |
|---:|---|---|
{rows}
"""


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory and os.replace: never a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; artifacts are read by other users
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_artifacts(out_dir: Path, trained: TrainedModel) -> dict[str, Any]:
    """Export and write fraud.onnx, model_card.json and MODEL_CARD.md; return the card."""
    onnx_bytes = export_onnx(trained.pipeline)
    card = model_card(trained, onnx_bytes)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The model first: a card never names a SHA whose file is not on disk yet.
    _atomic_write(out_dir / "fraud.onnx", onnx_bytes)
    _atomic_write(out_dir / "model_card.json", (json.dumps(card, indent=2) + "\n").encode())
    _atomic_write(out_dir / "MODEL_CARD.md", _markdown(card).encode())
    return card


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m reference_service.model.train",
        description="Train the reference fraud model and export it to ONNX.",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    if args.rows < 1000:
        parser.error("--rows must be at least 1000 (the holdout needs fraud cases)")
    start = time.perf_counter()
    trained = fit(TrainConfig(rows=args.rows, seed=args.seed))
    card = write_artifacts(args.out, trained)
    total = time.perf_counter() - start
    print(
        f"wrote {args.out / 'fraud.onnx'} sha256={card['sha256']} "
        f"holdout_auc={card['holdout']['auc']:.4f} onnx_auc={card['holdout']['auc_onnx']:.4f} "
        f"fit={trained.fit_seconds:.1f}s total={total:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
