"""V2 (Open Inference Protocol) infer bodies built from a model's metadata.

Every input the metadata lists is sent, in its datatype, with ``-1`` dimensions replaced by the
body's ``dynamic_size``; values are flat (row-major), which V2 servers accept. Generated values:
floats in [0, 1) (4 decimals), integers in [0, 100), booleans, 8-letter strings for BYTES;
``generate: fraud_features`` instead sends the reference fraud model's feature row of a synthetic
transaction (one FP32 input ``[N, F]``, what the built-in ``infer`` entry sends). With an
``inputs`` file the body's inputs are the file's, in this process's share order.

Large tensors: generating every value per request would cost the generator more than the
request; above :data:`POOL_THRESHOLD` values a pool of :data:`POOL_SIZE` bodies is generated up
front and cycled (ids still differ per request).
"""

from __future__ import annotations

import math
import random
import string
from pathlib import Path
from typing import Final

import orjson

from harness.errors import UsageError
from harness.payload import PayloadGenerator
from harness.spec import V2Generate, V2InferBody, read_v2_inputs
from harness.target import V2Model, V2Tensor

__all__ = ["POOL_SIZE", "POOL_THRESHOLD", "V2BodyBuilder", "generate_tensor"]

POOL_THRESHOLD: Final = 4096
POOL_SIZE: Final = 32
_FLOATS: Final = frozenset({"FP16", "FP32", "FP64"})
_LETTERS: Final = string.ascii_lowercase


def generate_tensor(tensor: V2Tensor, dynamic: int, rng: random.Random) -> dict[str, object]:
    """One input of the infer body with generated values."""
    shape = [dynamic if d < 0 else d for d in tensor.shape] or [1]
    count = math.prod(shape)
    kind = tensor.datatype
    data: list[object]
    if kind in _FLOATS:
        data = [round(rng.random(), 4) for _ in range(count)]
    elif kind == "BOOL":
        data = [rng.random() < 0.5 for _ in range(count)]
    elif kind == "BYTES":
        data = ["".join(rng.choices(_LETTERS, k=8)) for _ in range(count)]
    else:  # INT*/UINT*: small non-negative values fit every integer type
        data = [rng.randrange(100) for _ in range(count)]
    return {"name": tensor.name, "shape": shape, "datatype": kind, "data": data}


class V2BodyBuilder:
    """The bodies of one ``v2_infer`` entry."""

    __slots__ = (
        "_files",
        "_made",
        "_model",
        "_outputs",
        "_part",
        "_payload",
        "_pool",
        "_rng",
        "_spec",
    )

    def __init__(
        self,
        spec: V2InferBody,
        model: V2Model | None,
        rng: random.Random,
        part: tuple[int, int],
        payload: PayloadGenerator,
    ) -> None:
        self._spec, self._rng, self._part, self._payload = spec, rng, part, payload
        self._outputs = [{"name": o} for o in spec.outputs]
        self._made = 0
        self._files: tuple[tuple[dict[str, object], ...], ...] = ()
        self._pool: list[list[dict[str, object]]] = []
        if spec.inputs is not None:
            self._files = read_v2_inputs(Path(spec.inputs))
            return
        if model is None:
            raise UsageError(f"v2_infer {spec.model!r}: no model metadata was read for it")
        self._check(model)
        self._model = model
        values = sum(
            math.prod(spec.dynamic_size if d < 0 else d for d in t.shape) for t in model.inputs
        )
        if spec.generate is V2Generate.RANDOM and values > POOL_THRESHOLD:
            self._pool = [self._generated() for _ in range(POOL_SIZE)]

    def _check(self, model: V2Model) -> None:
        if self._spec.generate is V2Generate.FRAUD_FEATURES:
            inputs = model.inputs
            if len(inputs) != 1 or inputs[0].datatype != "FP32" or len(inputs[0].shape) != 2:
                raise UsageError(
                    f"v2_infer {self._spec.model!r}: generate fraud_features needs one FP32 "
                    "input of shape [N, F]; use generate: random for this model"
                )

    def _generated(self) -> list[dict[str, object]]:
        dyn, rng = self._spec.dynamic_size, self._rng
        return [generate_tensor(t, dyn, rng) for t in self._model.inputs]

    def build(self, index: int) -> bytes:
        """The infer body of arrival ``index``."""
        spec = self._spec
        made = self._made
        self._made += 1
        if spec.generate is V2Generate.FRAUD_FEATURES and not self._files:
            tensor = self._model.inputs[0]
            return self._payload.next_infer_body(tensor.shape[-1], tensor.name)
        if self._files:
            k, n = self._part
            inputs: object = self._files[(made * n + k) % len(self._files)]
        elif self._pool:
            inputs = self._pool[made % len(self._pool)]
        else:
            inputs = self._generated()
        body: dict[str, object] = {"id": f"r{index}", "inputs": inputs}
        if self._outputs:
            body["outputs"] = self._outputs
        return orjson.dumps(body)
