"""The reference fraud model: feature encoding, scoring and (offline) training.

``features`` is the contract shared by training and the service; ``scorer`` loads the committed
``fraud.onnx`` after checking it against ``model_card.json``. ``train`` needs the ``train`` extra
and is not imported here, so the service starts without scikit-learn.
"""

from __future__ import annotations

from .features import (
    FEATURE_NAMES,
    FEATURE_SCHEMA,
    N_FEATURES,
    SUPPORTED_CURRENCIES,
    MccRisk,
    RawFeatures,
    Velocity,
    encode,
    encode_batch,
)
from .scorer import (
    FakeScorer,
    ModelInfo,
    ModelIntegrityError,
    ModelLoadError,
    OnnxScorer,
    Scorer,
    default_model_path,
)

__all__ = [
    "FEATURE_NAMES",
    "FEATURE_SCHEMA",
    "N_FEATURES",
    "SUPPORTED_CURRENCIES",
    "FakeScorer",
    "MccRisk",
    "ModelInfo",
    "ModelIntegrityError",
    "ModelLoadError",
    "OnnxScorer",
    "RawFeatures",
    "Scorer",
    "Velocity",
    "default_model_path",
    "encode",
    "encode_batch",
]
