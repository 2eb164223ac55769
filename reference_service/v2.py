"""Open Inference Protocol (KServe V2) REST surface of the fraud model.

This lets the harness drive the reference service, Triton, MLServer or KServe with the same
scenarios. ``infer`` is raw tensor scoring: FP32 ``[N, F]`` in, the model's ``probabilities``
output (``[N, 2]``: legit, fraud) out, exactly what the ONNX graph returns.

Audit choice: ``infer`` calls are *not* written to the card-decision audit trail. They carry no
card, no transaction and produce no approve/review/decline decision, so a record would have no
card token, transaction id or decision to reconstruct; auditors reconstruct card decisions, which
only ``/v1/score`` makes. They are counted in the request metrics like every route.
"""

from __future__ import annotations

import math
from typing import Any, Final

import msgspec
import numpy as np
from msgspec import Struct

from reference_service.model.features import N_FEATURES
from reference_service.model.scorer import ModelInfo, Scorer
from reference_service.pan import contains_pan
from reference_service.schema import (
    MALFORMED_ERRORS,
    RequestError,
    malformed_body,
    validation_error,
)

__all__ = [
    "MAX_BATCH",
    "MODEL_NAME",
    "InferRequest",
    "InferResponse",
    "infer",
    "model_metadata",
    "server_metadata",
]

MODEL_NAME: Final = "fraud"
MAX_BATCH: Final = 1024
_FP32: Final = "FP32"


class InferTensor(Struct, frozen=True):
    """One input tensor; ``data`` is row-major, flat or nested."""

    name: str
    shape: list[int]
    datatype: str
    data: list[Any]
    parameters: dict[str, Any] | None = None


class RequestedOutput(Struct, frozen=True):
    name: str
    parameters: dict[str, Any] | None = None


class InferRequest(Struct, frozen=True):
    inputs: list[InferTensor]
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[RequestedOutput] | None = None


class OutputTensor(Struct, frozen=True):
    name: str
    shape: list[int]
    datatype: str
    data: list[float]


class InferResponse(Struct, frozen=True, omit_defaults=True):
    model_name: str
    model_version: str
    outputs: list[OutputTensor]
    id: str | None = None


_decoder: Final = msgspec.json.Decoder(InferRequest)
_encoder: Final = msgspec.json.Encoder()


def server_metadata(version: str, audit_mode: str) -> dict[str, Any]:
    """``GET /v2``; ``audit_mode`` (an extra member) tells clients whether answers wait for the
    audit record's fsync (``durable``) or not (``async``)."""
    return {
        "name": "slo-harness-reference-service",
        "version": version,
        "extensions": [],
        "audit_mode": audit_mode,
    }


def model_metadata(info: ModelInfo) -> dict[str, Any]:
    return {
        "name": MODEL_NAME,
        "versions": [info.version],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": info.input_name, "datatype": _FP32, "shape": [-1, N_FEATURES]}],
        "outputs": [{"name": info.output_name, "datatype": _FP32, "shape": [-1, 2]}],
    }


def _flatten_rows(rows: list[list[float]], n: int) -> list[float]:
    """Nested ``[N][F]`` data as one row-major list; every row must hold exactly F values (a short
    or long row is an error, never dropped: dropping one would score the other rows shifted)."""
    for i, row in enumerate(rows):
        if len(row) != N_FEATURES:
            raise RequestError(
                400,
                f"row {i} has {len(row)} values; expected {N_FEATURES}",
                f"$.inputs[0].data[{i}]",
            )
    if len(rows) != n:
        raise RequestError(400, f"data has {len(rows)} rows; shape says {n}", "$.inputs[0].data")
    return [v for row in rows for v in row]


def _tensor(req: InferRequest, info: ModelInfo) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The validated ``[N, F]`` float32 input of a request (RequestError 400 otherwise)."""
    if len(req.inputs) != 1:
        raise RequestError(
            400, f"expected exactly 1 input tensor, got {len(req.inputs)}", "$.inputs"
        )
    t = req.inputs[0]
    if t.name != info.input_name:
        raise RequestError(
            400, f"unknown input name; expected {info.input_name!r}", "$.inputs[0].name"
        )
    if t.datatype != _FP32:
        raise RequestError(400, "datatype must be FP32", "$.inputs[0].datatype")
    if len(t.shape) != 2 or t.shape[1] != N_FEATURES or not 1 <= t.shape[0] <= MAX_BATCH:
        raise RequestError(
            400, f"shape must be [N, {N_FEATURES}] with 1 <= N <= {MAX_BATCH}", "$.inputs[0].shape"
        )
    n = t.shape[0]
    try:
        # Nested rows or flat row-major; msgspec.convert rejects strings, bools and nulls.
        if t.data and isinstance(t.data[0], list):
            flat = _flatten_rows(msgspec.convert(t.data, list[list[float]]), n)
        else:
            flat = msgspec.convert(t.data, list[float])
    except (msgspec.ValidationError, RecursionError):
        raise RequestError(
            400, "data must be numbers, flat or [N][F]", "$.inputs[0].data"
        ) from None
    if len(flat) != n * N_FEATURES:
        raise RequestError(400, "data does not match shape", "$.inputs[0].data")
    if not all(math.isfinite(v) for v in flat):
        raise RequestError(400, "data must be finite", "$.inputs[0].data")
    return np.asarray(flat, dtype=np.float32).reshape(n, N_FEATURES)


def infer(body: bytes, scorer: Scorer) -> bytes:
    """Run one V2 infer request; raises :class:`RequestError` (400/422) on bad input."""
    info = scorer.info
    try:
        req = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, 400, "invalid inference request: ") from None
    except MALFORMED_ERRORS as exc:
        raise malformed_body(exc) from None
    if req.id is not None and contains_pan(req.id):
        # The id is echoed in the response: a card number must not travel back (nor be echoed).
        raise RequestError(
            400, "id contains what may be a card number (a Luhn-valid run of 12-19 digits)", "$.id"
        )
    x = _tensor(req, info)
    if req.outputs is not None:
        for i, out in enumerate(req.outputs):
            if out.name != info.output_name:
                raise RequestError(
                    400, f"unknown output; expected {info.output_name!r}", f"$.outputs[{i}].name"
                )
    probs = scorer.probabilities(x)
    resp = InferResponse(
        model_name=MODEL_NAME,
        model_version=info.version,
        id=req.id,
        outputs=[
            OutputTensor(
                name=info.output_name,
                shape=[int(probs.shape[0]), int(probs.shape[1])],
                datatype=_FP32,
                data=probs.ravel().tolist(),
            )
        ],
    )
    return _encoder.encode(resp)
