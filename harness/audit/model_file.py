"""The model a replay scores with: a file whose SHA-256 must be the one the records name.

ONNX Runtime is imported here lazily, inside :func:`open_model`, never at import time: the
harness core installs without it (``pip install slo-harness``); replay needs the ``service``
extra, and says so (exit 2) when it is missing.

The session runs on one thread with sequential execution, like the service's: a tree ensemble
then sums its trees in one fixed order whatever the batch size, so a batch of 4,096 rows gives
the scores batch-1 scoring gave (the stated tolerance covers any other ONNX Runtime build).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import UsageError

__all__ = ["ReplayModel", "default_model_file", "open_model"]

_INPUT = "input"
_OUTPUT = "probabilities"


@dataclass(frozen=True, slots=True)
class ReplayModel:
    """A loaded model file: its digest, its model card (``model_card.json`` beside it, if any)."""

    path: Path
    sha256: str
    card: dict[str, Any]
    session: Any  # onnxruntime.InferenceSession

    def score(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Fraud probability (column 1 of ``probabilities``) per row of a float32 matrix."""
        out: npt.NDArray[np.float32] = self.session.run([_OUTPUT], {_INPUT: x})[0][:, 1]
        return out

    def card_summary(self) -> dict[str, str]:
        """The model card's facts an auditor asks for, as text (empty without a card)."""
        c = self.card
        if not c:
            return {}
        est = c.get("estimator", {})
        hold = c.get("holdout", {})
        gen = c.get("generator", {})
        out = {
            "name": str(c.get("name", "")),
            "version": str(c.get("version", "")),
            "estimator": (
                f"{est.get('type', '?')}, {est.get('n_estimators', '?')} trees, "
                f"depth {est.get('max_depth', '?')}"
            ),
            "training data": f"synthetic, {gen.get('rows', '?')} rows, seed {gen.get('seed', '?')}",
            "holdout AUC": f"{hold.get('auc_onnx', hold.get('auc', '?'))}",
            "missing values": str(c.get("missing_values", "")),
        }
        return {k: v for k, v in out.items() if v}


def default_model_file() -> Path | None:
    """The reference service's packaged ``fraud.onnx``, located without importing its code."""
    spec = importlib.util.find_spec("reference_service")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model" / "fraud.onnx"
    return path if path.is_file() else None


def _card(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.with_name("model_card.json").read_bytes())
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def open_model(path: Path) -> ReplayModel:
    """Read, hash and load ``path``; UsageError (exit 2) when unreadable or ORT is missing."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--model {path}: cannot read: {exc.strerror}") from None
    try:
        import onnxruntime as ort
    except ImportError:
        raise UsageError(
            "audit replay scores with ONNX Runtime, which is not installed: "
            "install slo-harness[service]"
        ) from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own untyped exception classes
        raise UsageError(f"--model {path}: ONNX Runtime cannot load it: {exc}") from None
    names = {i.name for i in session.get_inputs()}
    if names != {_INPUT} or _OUTPUT not in {o.name for o in session.get_outputs()}:
        raise UsageError(f"--model {path}: expected input {_INPUT!r} and output {_OUTPUT!r}")
    return ReplayModel(path, hashlib.sha256(data).hexdigest(), _card(path), session)
