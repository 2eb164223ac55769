"""Start a proxy process in front of a target, wait until it is ready, always stop it.

:func:`launch_proxies` (and the one-proxy shorthand :func:`launch_proxy`) is a context manager:

1. it records a ledger entry (kind :data:`PROXY_PROCESS_KIND`) *before* the process exists, with
   a random instance id that the process carries on its command line;
2. starts ``python -m harness.chaos.proxy`` in its own session with ``--parent-pid`` (the proxy
   exits by itself within 0.2 s once we are gone, so a SIGKILLed harness leaves nothing behind
   for long), and waits (bounded) for its readiness line;
3. on leaving the block, however it is left: SIGTERM, a bounded wait, SIGKILL; the entry is
   released once the process is gone.

The undo handler registered here (:func:`undo_proxy_process`) finds a leftover proxy by its
instance id (never by name alone: other runs' proxies are not ours) and kills it; a sweep after
a SIGKILL of the harness calls it, as does ``slo-harness chaos cleanup``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Final
from urllib.parse import urlsplit

import msgspec
import psutil

from harness.chaos.proxy.client import ProxyClient
from harness.chaos.proxy.model import Protocol, ProxyConfig, parse_proxy
from harness.errors import ProxyError
from harness.ledger import Ledger, LedgerEntry, UndoStatus, register_undo

__all__ = [
    "PROXY_PROCESS_KIND",
    "ProxyHandle",
    "launch_proxies",
    "launch_proxy",
    "undo_proxy_process",
    "upstream_hostport",
]

PROXY_PROCESS_KIND: Final = "chaos.proxy_process"
_MODULE: Final = "harness.chaos.proxy"
_STDERR_TAIL_BYTES: Final = 2000


class _Ready(msgspec.Struct, frozen=True):
    control: str
    pid: int
    proxies: dict[str, str]


@dataclass(frozen=True, slots=True)
class ProxyHandle:
    """A running proxy process: its control API and where each of its proxies listens."""

    control_url: str
    pid: int
    listen: dict[str, str]  # proxy name -> "host:port" (ports of port-0 listeners resolved)
    client: ProxyClient
    instance_id: str

    def url(self, name: str | None = None, scheme: str = "http") -> str:
        """``http://host:port`` of proxy ``name`` (the only one when None)."""
        if name is None:
            if len(self.listen) != 1:
                raise ProxyError(f"proxies {sorted(self.listen)}: name which one")
            (address,) = self.listen.values()
        else:
            address = self.listen[name]
        return f"{scheme}://{address}"


def upstream_hostport(target: str) -> str:
    """``http://127.0.0.1:8080/x`` or ``127.0.0.1:8080`` -> ``127.0.0.1:8080``."""
    if "://" not in target:
        return target
    parts = urlsplit(target)
    if not parts.hostname or parts.port is None:
        raise ProxyError(f"upstream {target!r}: expected a URL with an explicit port")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}"


@contextlib.contextmanager
def launch_proxy(
    upstream: str,
    *,
    name: str = "target",
    protocol: Protocol = Protocol.HTTP,
    listen: str = "127.0.0.1:0",
    seed: int = 0,
    ledger: Ledger | None = None,
    ready_timeout_s: float = 15.0,
) -> Iterator[ProxyHandle]:
    """One proxy in front of ``upstream`` (URL or host:port); see :func:`launch_proxies`."""
    config = parse_proxy(
        {
            "name": name,
            "listen": listen,
            "upstream": upstream_hostport(upstream),
            "protocol": protocol.value,
        },
        "proxy",
    )
    with launch_proxies([config], seed=seed, ledger=ledger, ready_timeout_s=ready_timeout_s) as h:
        yield h


@contextlib.contextmanager
def launch_proxies(
    configs: Sequence[ProxyConfig],
    *,
    seed: int = 0,
    ledger: Ledger | None = None,
    ready_timeout_s: float = 15.0,
    stop_timeout_s: float = 5.0,
) -> Iterator[ProxyHandle]:
    """Run a proxy process with ``configs`` for the ``with`` block; see the module docstring."""
    ledger = ledger if ledger is not None else Ledger()
    instance_id = secrets.token_hex(8)
    entry = ledger.record(
        PROXY_PROCESS_KIND, f"fault proxy {instance_id}", {"instance_id": instance_id}
    )
    with tempfile.TemporaryFile(prefix="slo-proxy-") as log:
        proc = _spawn(configs, seed, instance_id, log)
        try:
            ready = _wait_ready(proc, ready_timeout_s, log)
            with ProxyClient(ready.control) as client:
                yield ProxyHandle(ready.control, ready.pid, ready.proxies, client, instance_id)
        finally:
            _stop(proc, stop_timeout_s)
            if proc.poll() is not None:
                ledger.release(entry)


def _spawn(
    configs: Sequence[ProxyConfig], seed: int, instance_id: str, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", _MODULE, "--control", "127.0.0.1:0", "--seed", str(seed)]
    for c in configs:
        spec = f"name={c.name},listen={c.listen},upstream={c.upstream},protocol={c.protocol.value}"
        cmd += ["--proxy", spec]
    cmd += ["--parent-pid", str(os.getpid()), "--instance-id", instance_id]
    return subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,  # Ctrl-C in a terminal reaches us; we stop it in order
    )


def _wait_ready(proc: subprocess.Popen[bytes], timeout_s: float, log: IO[bytes]) -> _Ready:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProxyError(f"fault proxy not ready within {timeout_s:g} s: {_tail(log)}")
            if not selector.select(timeout=min(left, 0.1)):
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    if not line.endswith(b"\n"):
        proc.wait(timeout=5.0)
        raise ProxyError(f"fault proxy exited with code {proc.returncode}: {_tail(log)}")
    try:
        return msgspec.json.decode(line, type=_Ready)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ProxyError(f"fault proxy: unexpected readiness line {line[:200]!r}") from None


def _tail(log: IO[bytes]) -> str:
    with contextlib.suppress(OSError, ValueError):
        log.seek(0)
        text = log.read().decode("utf-8", "replace").strip()
        return text[-_STDERR_TAIL_BYTES:] or "(no output)"
    return "(no output captured)"


def _stop(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, bounded wait, then SIGKILL: never leaves the process behind."""
    try:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5.0)
        if proc.stdout is not None:
            proc.stdout.close()


def _instances(instance_id: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if _MODULE in cmdline and instance_id in cmdline:
            found.append(process)
    return found


def undo_proxy_process(entry: LedgerEntry) -> UndoStatus:
    """Kill the proxy process recorded in ``entry`` if it is still running (ledger undo)."""
    instance_id = str(entry.undo.get("instance_id", ""))
    if not instance_id:
        return UndoStatus.FAILED
    found = _instances(instance_id)
    if not found:
        return UndoStatus.ALREADY_GONE
    for process in found:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    _gone, alive = psutil.wait_procs(found, timeout=5.0)
    return UndoStatus.FAILED if alive else UndoStatus.REMOVED


register_undo(PROXY_PROCESS_KIND, undo_proxy_process)
