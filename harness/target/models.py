"""The V2 models a scenario's ``v2_infer`` requests name, read from the target's metadata.

``GET /v2/models/{name}[/versions/{v}]`` gives each input's name, datatype and shape (``-1`` for
a variable dimension); the generator builds bodies from it (``harness.load``). Read once, by the
process that probes the target, and shipped to workers inside their run spec. A target without
the metadata is fine unless a ``v2_infer`` request needs it: then the run stops with a usage
error naming the request (exit 2), since the scenario, not the target, is what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import httpx
import msgspec

from harness.errors import TargetUnreachable, UsageError
from harness.spec import RequestSpec, SecretError, resolve_value

__all__ = ["V2_DATATYPES", "V2Model", "V2Tensor", "fetch_models", "request_headers"]

#: The Open Inference Protocol's tensor datatypes.
V2_DATATYPES: Final = frozenset(
    {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
     "FP16", "FP32", "FP64", "BYTES"}
)  # fmt: skip


class V2Tensor(msgspec.Struct, frozen=True):
    """One input of a model: name, datatype and shape (``-1`` = variable)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


class V2Model(msgspec.Struct, frozen=True):
    """A model's metadata, keyed by the path it was read from."""

    path: str
    name: str
    versions: tuple[str, ...]
    inputs: tuple[V2Tensor, ...]


class _Meta(msgspec.Struct):
    name: str
    inputs: list[V2Tensor]
    versions: list[str] | None = None


def request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header values with their secrets resolved (UsageError naming the header, never a value)."""
    out = {}
    for name, value in headers.items():
        try:
            out[name] = resolve_value(value)
        except SecretError as exc:
            raise UsageError(f"header {name}: expected {exc}") from None
    return out


def fetch_models(
    url: str, requests: tuple[RequestSpec, ...], timeout_s: float = 5.0
) -> tuple[V2Model, ...]:
    """Metadata of every model a ``v2_infer`` request names (each path read once)."""
    base = url.rstrip("/")
    found: dict[str, V2Model] = {}
    with httpx.Client(timeout=timeout_s, trust_env=False) as client:
        for i, request in enumerate(requests):
            v2 = request.v2
            if v2 is None or v2.metadata_path in found:
                continue
            found[v2.metadata_path] = _read(client, base, i, request)
    return tuple(found.values())


def _read(client: httpx.Client, base: str, i: int, request: RequestSpec) -> V2Model:
    v2 = request.v2
    assert v2 is not None
    where = f"requests[{i}] ({request.name}): body.v2_infer.model {v2.model!r}"
    path = v2.metadata_path
    try:
        response = client.get(base + path, headers=request_headers(request.headers))
    except httpx.HTTPError as exc:
        raise TargetUnreachable(
            f"{where}: cannot read V2 metadata at {base}{path} ({exc.__class__.__name__})"
        ) from None
    if response.status_code != 200:
        raise UsageError(
            f"{where}: the target has no V2 model metadata at {path} (HTTP "
            f"{response.status_code}); check the model name/version, or use another body kind"
        )
    try:
        meta = msgspec.json.decode(response.content, type=_Meta)
    except msgspec.DecodeError as exc:
        raise UsageError(f"{where}: the metadata at {path} is not V2 ({exc})") from None
    for tensor in meta.inputs:
        if tensor.datatype not in V2_DATATYPES:
            raise UsageError(
                f"{where}: input {tensor.name!r} has datatype {tensor.datatype!r}; expected one "
                f"of {', '.join(sorted(V2_DATATYPES))}"
            )
    if not meta.inputs and v2.inputs is None:
        raise UsageError(f"{where}: the metadata at {path} lists no inputs")
    return V2Model(path, meta.name, tuple(meta.versions or ()), tuple(meta.inputs))
