"""The system under test: where it may be, how to start the embedded one, how to tell it is up.

- :func:`check_target_allowed`: load goes only to loopback or to the 198.18.0.0/15 benchmarking
  range (RFC 2544) that the project's own network namespaces use. Host names other than
  ``localhost`` are refused rather than resolved: DNS could point them anywhere.
- :func:`launch_reference_service`: ``python -m reference_service`` on a free loopback port, in
  its own process group, removed on exit however the block ends (exception, Ctrl-C): SIGTERM to
  the group (the service drains and flushes its audit trail), then SIGKILL if it lingers.
- :func:`probe_target`: a bounded readiness probe (``GET /v2/health/ready``) plus the model's
  identity from the V2 metadata, so a run against a dead target stops with exit 3 before it
  starts instead of producing a report full of errors.

No Locust here: the load package and the CLI both use these functions.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final
from urllib.parse import urlsplit

import httpx

from harness.errors import ServiceStartError, TargetUnreachable, UsageError
from harness.measure.result import TargetInfo

__all__ = [
    "ALLOWED_NETWORK",
    "InferInput",
    "ServiceKeys",
    "check_target_allowed",
    "launch_reference_service",
    "probe_target",
    "read_infer_input",
]

#: RFC 2544 benchmarking range; the project's network namespaces live here.
ALLOWED_NETWORK: Final = ipaddress.ip_network("198.18.0.0/15")
_READY_PATH: Final = "/v2/health/ready"
_MODEL_PATH: Final = "/v2/models/fraud"
_SHA_RE: Final = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_METRIC_SHA_RE: Final = re.compile(r'^slo_model_info\{[^}]*sha256="([0-9a-f]{64})"', re.M)
_STDERR_TAIL_LINES: Final = 20


def check_target_allowed(url: str) -> None:
    """Raise UsageError unless ``url`` is http(s) to loopback or 198.18.0.0/15."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise UsageError(f"target {url!r}: expected an http(s) URL such as http://127.0.0.1:8080")
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(
            f"target {url!r}: host names other than localhost are not allowed; "
            "use a loopback address or one in 198.18.0.0/15"
        ) from None
    if address.is_loopback or (address.version == 4 and address in ALLOWED_NETWORK):
        return
    raise UsageError(
        f"target {url!r}: load may only go to loopback (127.0.0.0/8, ::1) or to the project's "
        "network namespaces (198.18.0.0/15)"
    )


# -- probing ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InferInput:
    """The V2 model's input tensor: its name and the number of features F of ``[N, F]``."""

    name: str
    n_features: int


def probe_target(
    url: str, timeout_s: float = 10.0, *, started_by_harness: bool = False
) -> TargetInfo:
    """Wait (bounded) until ``url`` answers its V2 readiness probe; return what it serves.

    A 200 means ready; a 503 is retried until ``timeout_s``; any other status means the target
    answers but does not speak V2 health (accepted, model fields stay None). Raises
    TargetUnreachable when nothing answers or it never becomes ready within ``timeout_s``.
    """
    check_target_allowed(url)
    base = url.rstrip("/")
    deadline = time.monotonic() + timeout_s
    last = "no attempt"
    with httpx.Client(timeout=min(2.0, max(timeout_s, 0.1)), trust_env=False) as client:
        for _attempt in range(max(1, int(timeout_s / 0.1)) + 1):  # bounded in count and time
            try:
                status = client.get(base + _READY_PATH).status_code
            except httpx.HTTPError as exc:
                last = f"{exc.__class__.__name__}"
            else:
                if status == 200:
                    return _identify(client, base, started_by_harness)
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
            response = client.get(base + _MODEL_PATH)
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
            f"target {base}: model metadata at {_MODEL_PATH} is not V2 (no inputs[0].shape)"
        ) from None


def _identify(client: httpx.Client, base: str, started_by_harness: bool) -> TargetInfo:
    name = version = sha = None
    try:
        response = client.get(base + _MODEL_PATH)
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


# -- launching ------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class ServiceKeys:
    """Per-run key material for an embedded service, so its audit trail can be verified afterwards.

    Both keys are random, 32 bytes, written hex-encoded with mode 0600 into ``directory`` (which
    the caller owns and removes); the PAN key is separate from the audit key, as PCI DSS 3.6 wants.
    """

    directory: Path
    audit_key: bytes

    @property
    def audit_dir(self) -> Path:
        """Where the service writes its trail."""
        return self.directory / "audit"

    @classmethod
    def create(cls, directory: Path) -> ServiceKeys:
        """Generate both keys into ``directory``."""
        audit_key = secrets.token_bytes(32)
        for name, key in (("audit.key", audit_key), ("pan.key", secrets.token_bytes(32))):
            fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key.hex())
        return cls(directory, audit_key)

    def service_args(self) -> tuple[str, ...]:
        """Flags telling ``python -m reference_service`` where its keys are."""
        return (
            *("--audit-key-file", str(self.directory / "audit.key")),
            *("--pan-key-file", str(self.directory / "pan.key")),
        )


@contextlib.contextmanager
def launch_reference_service(
    *,
    workers: int = 1,
    audit_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 60.0,
    stop_timeout_s: float = 15.0,
    bind: tuple[str, int] | None = None,
    command_prefix: Sequence[str] = (),
) -> Iterator[str]:
    """Run the reference service on a free loopback port for the ``with`` block; yield its URL.

    ``audit_dir`` None uses a temporary directory removed afterwards. ``env`` adds variables
    (e.g. key material) to the child's environment. ``bind`` (address, port) replaces the free
    loopback port, e.g. a lab address inside a network namespace that ``command_prefix`` (such
    as ``ip netns exec NAME``) puts the process in; the readiness probe then runs from the
    caller's current namespace. Raises ServiceStartError with the last stderr
    lines if it does not become ready within ``ready_timeout_s``. The service gets our PID as
    ``--parent-pid``: its own session shields it from our process group, so without that a
    SIGKILLed harness (no ``finally`` runs) would leave it serving; with it, it shuts down
    gracefully within about a second.
    """
    with contextlib.ExitStack() as stack:
        if audit_dir is None:
            audit_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="slo-audit-")))
        log = stack.enter_context(tempfile.TemporaryFile(prefix="slo-service-", mode="w+b"))
        host, port = bind or ("127.0.0.1", _free_port())
        check_target_allowed(f"http://{host}:{port}")
        loopback = ipaddress.ip_address(host).is_loopback
        cmd = [
            *command_prefix,
            sys.executable,
            "-m",
            "reference_service",
            *("--host", host, "--port", str(port), "--workers", str(workers)),
            *(() if loopback else ("--allow-non-loopback",)),
            *("--audit-dir", str(audit_dir)),
            *("--parent-pid", str(os.getpid())),
            *extra_args,
        ]
        child_env = {**os.environ, **(env or {})}
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            start_new_session=True,  # own process group: uvicorn workers are stopped with it
        )
        try:
            url = f"http://{host}:{port}"
            _wait_ready(proc, url, ready_timeout_s, log)
            yield url
        finally:
            _stop(proc, stop_timeout_s)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while True:
            code = proc.poll()
            if code is not None:
                raise ServiceStartError(
                    f"reference service exited with code {code} before it was ready:\n" + _tail(log)
                )
            try:
                if client.get(url + _READY_PATH).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                raise ServiceStartError(
                    f"reference service not ready within {timeout_s:g} s at {url}:\n" + _tail(log)
                )
            time.sleep(0.05)


def _tail(log: IO[bytes]) -> str:
    try:
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return "(no output captured)"
    lines = text.splitlines()[-_STDERR_TAIL_LINES:]
    return "\n".join(lines) if lines else "(no output)"


def _stop(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM the whole group, wait, then SIGKILL; never leaves a process behind."""
    try:
        _signal_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout_s)
    finally:
        # Always: also covers workers that outlive their parent, and a second Ctrl-C above.
        _signal_group(proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5.0)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
