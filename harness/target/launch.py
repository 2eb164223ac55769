"""Starting the embedded reference service for a run, and the per-run keys it needs.

:func:`launch_reference_service` runs ``python -m reference_service`` on a free loopback port, in
its own process group, removed on exit however the block ends (exception, Ctrl-C): SIGTERM to the
group (the service drains and flushes its audit trail), then SIGKILL if it lingers. The harness
never imports ``reference_service``: it only starts it as a process and talks HTTP to it (the
service is an optional install, ``slo-harness[service]``).
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, ParamSpec

from harness.errors import ServiceStartError, UsageError
from harness.files import atomic_write_bytes
from harness.target.address import check_target_allowed
from harness.target.probe import READY_PATH

__all__ = [
    "ServiceKeys",
    "ServiceProcess",
    "launch_reference_service",
    "reference_service_process",
    "require_service",
]

P = ParamSpec("P")
_STDERR_TAIL_LINES: Final = 20
#: What ``python -m reference_service`` cannot start without (``slo-harness[service]``).
SERVICE_MODULES: Final = ("reference_service", "onnxruntime", "uvicorn")


def require_service() -> None:
    """UsageError (exit 2) naming the fix when the reference service is not installed."""
    missing = [name for name in SERVICE_MODULES if not _installed(name)]
    if missing:
        raise UsageError(
            f"the reference service is not installed ({', '.join(missing)} missing): "
            "pip install 'slo-harness[service]' (from a checkout: "
            "pip install ./reference_service), or point the run at a service with --target"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked installation is not an installation
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True, slots=True)
class ServiceKeys:
    """Per-run key material for an embedded service, so its audit trail can be verified afterwards.

    Both keys are random, 32 bytes, written hex-encoded with mode 0600 into ``directory`` (which
    the caller owns and removes) through the atomic writer, never over an existing file (a key is
    whole or absent); the PAN key is separate from the audit key, as PCI DSS 3.6 wants.
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
            # exclusive: never replace a key someone put there; 0600 from the first byte on
            atomic_write_bytes(directory / name, key.hex().encode(), mode=0o600, exclusive=True)
        return cls(directory, audit_key)

    def service_args(self) -> tuple[str, ...]:
        """Flags telling ``python -m reference_service`` where its keys are."""
        return (
            *("--audit-key-file", str(self.directory / "audit.key")),
            *("--pan-key-file", str(self.directory / "pan.key")),
        )


@contextlib.contextmanager
def reference_service_process(
    *,
    workers: int = 1,
    audit_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout_s: float = 60.0,
    stop_timeout_s: float = 15.0,
    bind: tuple[str, int] | None = None,
    command_prefix: Sequence[str] = (),
) -> Iterator[ServiceProcess]:
    """Run the reference service on a free loopback port for the ``with`` block; yield it as a
    restartable :class:`ServiceProcess` (:func:`launch_reference_service` yields its URL).

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
    require_service()
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
        service = ServiceProcess(
            tuple(cmd), {**os.environ, **(env or {})}, f"http://{host}:{port}", log
        )
        try:
            service.start(ready_timeout_s)
            yield service
        finally:
            service.stop(stop_timeout_s)


def _yielding_url(
    launch: Callable[P, AbstractContextManager[ServiceProcess]],
) -> Callable[P, AbstractContextManager[str]]:
    @contextlib.contextmanager
    def launch_reference_service(*args: P.args, **kwargs: P.kwargs) -> Iterator[str]:
        """:func:`reference_service_process` (same arguments), yielding the service's URL."""
        with launch(*args, **kwargs) as service:
            yield service.url

    return launch_reference_service


class ServiceProcess:
    """The embedded service's process: started, stopped and, for a game day's ``kill`` of the
    whole service, killed and started again with the same command line (same address, keys and
    audit directory; the new process opens a new audit stream).

    Methods are called from one thread at a time (the game day's restart runs in the background
    while the fault is active; its rollback joins it before anything else touches the process).
    """

    def __init__(self, cmd: Sequence[str], env: Mapping[str, str], url: str, log: IO[bytes]):
        self.cmd = tuple(cmd)
        self.env = dict(env)
        self.url = url
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready_timeout_s = 60.0

    @property
    def pid(self) -> int | None:
        """The running main process (None: not started, or it exited)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self, ready_timeout_s: float | None = None) -> None:
        """Start the process and wait until it answers its readiness probe (ServiceStartError)."""
        if ready_timeout_s is not None:
            self._ready_timeout_s = ready_timeout_s
        self._proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # own process group: uvicorn workers are stopped with it
        )
        _wait_ready(self._proc, self.url, self._ready_timeout_s, self._log)

    def ready(self, timeout_s: float = 0.5) -> bool:
        """The main process runs and the readiness probe answers 200 now."""
        return self.pid is not None and _answers_ready(self.url, timeout_s)

    def restart(self) -> None:
        """Kill what is left of the old process group (workers orphaned by a SIGKILLed master
        keep the port), then start again with the same command line and wait until ready."""
        if self._proc is not None:
            _signal_group(self._proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5.0)
        self.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the group (the service drains and flushes its trail), then SIGKILL."""
        if self._proc is not None:
            _stop(self._proc, timeout_s)


#: :func:`reference_service_process` for callers that need only the URL.
launch_reference_service = _yielding_url(reference_service_process)


def _answers_ready(url: str, timeout_s: float) -> bool:
    """``GET READY_PATH`` answers 200 now. A bare ``http.client`` request: a game day restarts
    and polls the service from inside the load process, where building an httpx client (its TLS
    context: tens of ms of CPU on a busy machine, measured blocking the gevent hub) would delay
    the load's scheduler."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout_s)
    try:
        conn.request("GET", READY_PATH)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            raise ServiceStartError(
                f"reference service exited with code {code} before it was ready:\n" + _tail(log)
            )
        if _answers_ready(url, 1.0):
            return
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
