"""Is the target up, and what does it serve: bounded KServe V2 readiness and metadata probes.

:func:`probe_target` waits (bounded in count and time) for ``GET /v2/health/ready`` and reads the
model's identity from the V2 metadata (or the ``slo_model_info`` metric), so a run against a dead
target stops with exit 3 before it starts instead of producing a report full of errors.
:func:`read_infer_input` reads the input tensor's name and width for ``/infer`` payloads.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Final

import httpx

from harness.errors import TargetUnreachable
from harness.measure import TargetInfo
from harness.spec import HealthSpec
from harness.target.address import check_target_allowed
from harness.target.models import request_headers

__all__ = ["MODEL_PATH", "READY_PATH", "InferInput", "probe_target", "read_infer_input"]

READY_PATH: Final = "/v2/health/ready"
MODEL_PATH: Final = "/v2/models/fraud"
_SHA_RE: Final = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_METRIC_SHA_RE: Final = re.compile(r'^slo_model_info\{[^}]*sha256="([0-9a-f]{64})"', re.M)


@dataclass(frozen=True, slots=True)
class InferInput:
    """The V2 model's input tensor: its name and the number of features F of ``[N, F]``."""

    name: str
    n_features: int


def probe_target(
    url: str,
    timeout_s: float = 10.0,
    *,
    started_by_harness: bool = False,
    health: HealthSpec | None = None,
    model_path: str = MODEL_PATH,
) -> TargetInfo:
    """Wait (bounded) until ``url`` answers its readiness probe; return what it serves.

    ``health`` (the scenario's ``health:``; default ``GET /v2/health/ready``, 200) names the path,
    the statuses that mean ready and extra headers. A ready status reads the model's identity
    from ``model_path`` (V2 metadata); a 503 is retried until ``timeout_s``; any other status
    means the target answers but not with a ready status (accepted, model fields stay None).
    Raises TargetUnreachable when nothing answers or it never becomes ready within ``timeout_s``.
    """
    check_target_allowed(url)
    health = health or HealthSpec()
    ready_path, ready = health.path, frozenset(health.status)
    headers = request_headers(health.headers)
    base = url.rstrip("/")
    deadline = time.monotonic() + timeout_s
    last = "no attempt"
    with httpx.Client(timeout=min(2.0, max(timeout_s, 0.1)), trust_env=False) as client:
        for _attempt in range(max(1, int(timeout_s / 0.1)) + 1):  # bounded in count and time
            try:
                status = client.get(base + ready_path, headers=headers).status_code
            except httpx.HTTPError as exc:
                last = f"{exc.__class__.__name__}"
            else:
                if status in ready:
                    return _identify(client, base, started_by_harness, model_path, headers)
                if status != 503:
                    return TargetInfo(url=base, started_by_harness=started_by_harness)
                last = "503 not ready"
            if time.monotonic() >= deadline:
                break
            time.sleep(0.1)
    raise TargetUnreachable(f"target {base} did not become ready within {timeout_s:g} s ({last})")


def read_infer_input(url: str, timeout_s: float = 5.0) -> InferInput:
    """The V2 input tensor of the ``fraud`` model (name and F), from its metadata."""
    check_target_allowed(url)
    base = url.rstrip("/")
    try:
        with httpx.Client(timeout=timeout_s, trust_env=False) as client:
            response = client.get(base + MODEL_PATH)
            response.raise_for_status()
            meta = response.json()
        first = meta["inputs"][0]
        return InferInput(name=str(first["name"]), n_features=int(first["shape"][-1]))
    except httpx.HTTPError as exc:
        raise TargetUnreachable(
            f"target {base}: cannot read model metadata ({exc.__class__.__name__})"
        ) from None
    except (ValueError, KeyError, IndexError, TypeError):
        raise TargetUnreachable(
            f"target {base}: model metadata at {MODEL_PATH} is not V2 (no inputs[0].shape)"
        ) from None


def _identify(
    client: httpx.Client,
    base: str,
    started_by_harness: bool,
    model_path: str,
    headers: dict[str, str],
) -> TargetInfo:
    name = version = sha = None
    try:
        response = client.get(base + model_path, headers=headers)
        if response.status_code == 200:
            meta = response.json()
            name = str(meta.get("name")) if meta.get("name") else None
            versions = meta.get("versions") or []
            version = str(versions[0]) if versions else None
        if version is not None and (found := _SHA_RE.search(version)):
            sha = found.group(0)
        if sha is None:
            metrics = client.get(base + "/metrics")
            if metrics.status_code == 200 and (found := _METRIC_SHA_RE.search(metrics.text)):
                sha = found.group(1)
    except (httpx.HTTPError, ValueError, AttributeError):
        pass  # identity is best effort; readiness already succeeded
    return TargetInfo(base, started_by_harness, name, version, sha)
