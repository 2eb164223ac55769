"""Scoring plug point: the ONNX Runtime scorer the service runs, and a deterministic fake for tests.

:class:`OnnxScorer` holds one ``InferenceSession`` per process, tuned for batch-1 latency of a
small tree ensemble: one intra-op and one inter-op thread, sequential execution, all graph
optimisations, no spinning threads (spinning burns the core the event loop needs), and only the
``probabilities`` output is requested. Loading verifies the file's SHA-256 against
``model_card.json`` next to it, so the version digest the service reports is the model it runs.

Per call, :class:`OnnxScorer` goes straight to the session's binding (``InferenceSession._sess``,
the object ``InferenceSession.run`` itself ends in): the Python ``run`` re-checks on every call
that the feed names the model's inputs and that no CUDA graph capture is configured, which cost
as much as the inference itself at batch 1 (measured: 59 us vs 38 us per call on a loaded 2-core
VM). The names are checked once at load instead; the binding still checks shape and type. A
session without the attribute (another ONNX Runtime) uses the public ``run``.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .features import FEATURE_NAMES, N_FEATURES

__all__ = [
    "FakeScorer",
    "ModelInfo",
    "ModelIntegrityError",
    "ModelLoadError",
    "OnnxScorer",
    "Scorer",
    "default_model_path",
    "session_options",
]

MODEL_NAME = "fraud"
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
CARD_FILE = "model_card.json"

F32Matrix = npt.NDArray[np.float32]


class ModelLoadError(Exception):
    """The model or its card is missing, unreadable or not the expected shape."""


class ModelIntegrityError(ModelLoadError):
    """The model file's SHA-256 differs from the one recorded in its model card."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of the loaded model, as reported by the service (version includes the digest)."""

    name: str
    version: str
    sha256: str
    feature_names: tuple[str, ...]
    input_name: str
    output_name: str


class Scorer(Protocol):
    """Scores encoded feature matrices (see ``features.encode``)."""

    info: ModelInfo

    def score(self, x: F32Matrix) -> npt.NDArray[np.floating[Any]]:
        """Fraud probability in [0, 1] per row of a float32 ``(n, N_FEATURES)`` matrix."""
        ...

    def probabilities(self, x: F32Matrix) -> F32Matrix:
        """The model's ``probabilities`` output, float32 ``(n, 2)``: [legit, fraud] per row."""
        ...

    def score_one(self, vector: npt.NDArray[np.float32]) -> float:
        """Fraud probability of one encoded vector of shape ``(N_FEATURES,)``."""
        ...

    def warm(self, n: int = 200) -> None:
        """Run ``n`` throw-away inferences before the service reports ready."""
        ...


def default_model_path() -> Path:
    """The packaged ``fraud.onnx`` (committed next to this module)."""
    return Path(__file__).resolve().with_name("fraud.onnx")


def _check_matrix(x: F32Matrix) -> None:
    if x.ndim != 2 or x.shape[1] != N_FEATURES:
        raise ValueError(f"expected a float32 matrix of shape (n, {N_FEATURES}), got {x.shape}")
    if x.dtype != np.float32:
        raise ValueError(f"expected dtype float32, got {x.dtype}")


def _read_card(model_path: Path) -> dict[str, Any]:
    card_path = model_path.with_name(CARD_FILE)
    try:
        card = json.loads(card_path.read_bytes())
    except FileNotFoundError:
        raise ModelLoadError(
            f"model card {card_path} not found next to {model_path.name}"
        ) from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model card {card_path} is unreadable: {exc}") from None
    if not isinstance(card, dict):
        raise ModelLoadError(f"model card {card_path}: expected a JSON object")
    for key in ("sha256", "version", "feature_names"):
        if key not in card:
            raise ModelLoadError(f"model card {card_path}: missing field {key!r}")
    return card


def session_options() -> Any:
    """The service's ``ort.SessionOptions`` for batch-1 latency (see the module docstring); the
    debug ballast (``ballast.py``) runs under the same ones."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return opts


class OnnxScorer:
    """The production scorer: one ONNX Runtime session, verified against its model card."""

    def __init__(self, session: Any, info: ModelInfo) -> None:
        self._session = session
        self._outputs = [info.output_name]
        self._input = info.input_name
        self.info = info
        binding = getattr(session, "_sess", None)
        self._run: Any = binding.run if binding is not None else session.run

    @classmethod
    def load(cls, path: Path | None = None) -> OnnxScorer:
        """Load ``path`` (default: the packaged model), check its SHA-256 and feature list."""
        import onnxruntime as ort

        model_path = Path(path) if path is not None else default_model_path()
        try:
            data = model_path.read_bytes()
        except OSError as exc:
            raise ModelLoadError(f"cannot read model {model_path}: {exc.strerror}") from None
        card = _read_card(model_path)
        digest = hashlib.sha256(data).hexdigest()
        if digest != card["sha256"]:
            raise ModelIntegrityError(
                f"model {model_path} has SHA-256 {digest}, but {CARD_FILE} records "
                f"{card['sha256']}: the file was changed or the card is stale"
            )
        if tuple(card["feature_names"]) != FEATURE_NAMES:
            raise ModelLoadError(
                f"model {model_path} was trained on features {card['feature_names']}, "
                f"this build encodes {list(FEATURE_NAMES)}"
            )
        try:
            session = ort.InferenceSession(
                data, session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own untyped exception classes
            raise ModelLoadError(f"ONNX Runtime cannot load {model_path}: {exc}") from None
        inputs = session.get_inputs()
        outputs = {o.name for o in session.get_outputs()}
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME or OUTPUT_NAME not in outputs:
            raise ModelLoadError(
                f"model {model_path}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r}"
            )
        info = ModelInfo(
            name=str(card.get("name", MODEL_NAME)),
            version=f"{card['version']}+{digest[:12]}",
            sha256=digest,
            feature_names=FEATURE_NAMES,
            input_name=INPUT_NAME,
            output_name=OUTPUT_NAME,
        )
        return cls(session, info)

    def probabilities(self, x: F32Matrix) -> F32Matrix:
        _check_matrix(x)
        out: F32Matrix = self._run(self._outputs, {self._input: x}, None)[0]
        return out

    def score(self, x: F32Matrix) -> npt.NDArray[np.floating[Any]]:
        return self.probabilities(x)[:, 1]

    def score_one(self, vector: npt.NDArray[np.float32]) -> float:
        """Fraud probability of one encoded vector of shape ``(N_FEATURES,)``."""
        return float(self.score(vector.reshape(1, N_FEATURES))[0])

    def warm(self, n: int = 200) -> None:
        """Run ``n`` batch-1 inferences (with and without missing values) to settle caches."""
        rows = np.zeros((2, 1, N_FEATURES), dtype=np.float32)
        rows[1, 0, 10:] = np.nan  # a degraded row takes the missing-value branches
        for i in range(n):
            self._session.run(self._outputs, {self._input: rows[i % 2]})


# Fixed weights of the fake: a plain logistic function of a few features, so tests can predict it.
_FAKE_WEIGHTS = np.zeros(N_FEATURES, dtype=np.float64)
_FAKE_WEIGHTS[FEATURE_NAMES.index("amount_usd_log")] = 0.5
_FAKE_WEIGHTS[FEATURE_NAMES.index("mcc_risk")] = 0.8
_FAKE_WEIGHTS[FEATURE_NAMES.index("card_present")] = -1.0
_FAKE_WEIGHTS[FEATURE_NAMES.index("ip_billing_mismatch")] = 1.5
_FAKE_INTERCEPT = -4.0


class FakeScorer:
    """Deterministic stand-in: ``sigmoid(w . nan_to_num(x) + b)`` with fixed weights.

    ``delay_s`` holds each ``score`` call (blocking, like real inference does) to exercise
    budgets; ``fixed_score`` overrides the formula; ``fail`` makes every call raise it.
    ``calls`` counts rows scored.
    """

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        fixed_score: float | None = None,
        fail: Exception | None = None,
    ) -> None:
        if fixed_score is not None and not 0.0 <= fixed_score <= 1.0:
            raise ValueError(f"fixed_score must be in [0, 1], got {fixed_score}")
        self.delay_s = delay_s
        self.fixed_score = fixed_score
        self.fail = fail
        self.calls = 0
        self.warmed: int | None = None
        self.info = ModelInfo(
            name=MODEL_NAME,
            version="0.0.0+fake",
            sha256="0" * 64,
            feature_names=FEATURE_NAMES,
            input_name=INPUT_NAME,
            output_name=OUTPUT_NAME,
        )

    @staticmethod
    def expected(x: F32Matrix) -> npt.NDArray[np.float64]:
        """What :meth:`score` returns for ``x`` (without ``fixed_score``)."""
        z = np.nan_to_num(x.astype(np.float64), nan=0.0) @ _FAKE_WEIGHTS + _FAKE_INTERCEPT
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))

    def score(self, x: F32Matrix) -> npt.NDArray[np.floating[Any]]:
        _check_matrix(x)
        if self.fail is not None:
            raise self.fail
        if self.delay_s > 0.0:
            time.sleep(self.delay_s)
        self.calls += x.shape[0]
        if self.fixed_score is not None:
            return np.full(x.shape[0], self.fixed_score, dtype=np.float64)
        return self.expected(x)

    def probabilities(self, x: F32Matrix) -> F32Matrix:
        p = self.score(x).astype(np.float32)
        return np.stack([1.0 - p, p], axis=1).astype(np.float32)

    def score_one(self, vector: npt.NDArray[np.float32]) -> float:
        return float(self.score(vector.reshape(1, N_FEATURES))[0])

    def warm(self, n: int = 200) -> None:
        """Nothing to warm; counts as ready at once (``warmed`` records the call)."""
        self.warmed = n
