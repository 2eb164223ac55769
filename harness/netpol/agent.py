"""The lab agent: listeners on every declared port, and the one-connection probe. Stdlib only.

Why a separate, stdlib-only program: the listeners must keep serving while ``slo-harness run``
drives load from the same harness process, and that process is monkey-patched by gevent (a
"thread" there is a greenlet, and ``setns`` in a greenlet would move the load generator's own
thread). So the listeners run in a child started as a *script* (``python .../agent.py serve``;
no package import, about 0.1 s to start), and so does the boundary monitor of a run
(``monitor``). The live lab's in-process prober calls :func:`probe` directly from real threads.

Namespaces: the agent enters each pod's network namespace (``setns(2)`` on ``/run/netns/NAME``)
only to *create* a socket, then returns: a socket keeps the namespace it was made in, so one
process serves or probes every pod. (harness.netns has the same five lines of ctypes; this copy
exists because this file must run without importing the package.)

What counts as what (REFERENCE.md "probe pitfalls"):

- TCP: a completed handshake is ``allowed``; a reset, an ICMP error or a timeout is ``blocked``.
  Every declared port has a listener, so a reset means the policy rejected, not "no server".
- UDP: the probe sends a random token and is ``allowed`` only when the *echo* comes back with it
  (a UDP send alone proves nothing: it "succeeds" with nobody listening).
- ``error``: the probe itself could not run (namespace gone, unsupported protocol such as SCTP
  on a kernel without it). Never counted as blocked.

Protocol on stdout (one JSON object per line): ``serve`` prints ``{"ready": true}`` once every
socket is bound (or ``{"error": ...}`` and exits 1); ``monitor`` prints one line per attempt.
Both exit when stdin reaches EOF (the parent died or closed it) or on SIGTERM: no orphan serves
on after its harness is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Final

__all__ = ["ALLOWED", "BLOCKED", "ERROR", "entered", "probe", "serve", "utc_now"]

ALLOWED: Final = "allowed"
BLOCKED: Final = "blocked"
ERROR: Final = "error"
_CLONE_NEWNET: Final = 0x40000000
_UDP_MAX_BYTES: Final = 2048
#: A monitor never runs longer than this, whatever it was asked (bounded request loops).
_MONITOR_MAX_S: Final = 3600.0

_libc = ctypes.CDLL(None, use_errno=True)


def utc_now() -> str:
    """Current UTC time, ISO 8601 with milliseconds (the format of ``ProbeAttempt.at``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), f"setns: {os.strerror(ctypes.get_errno())}")


@contextlib.contextmanager
def entered(netns_path: str) -> Iterator[None]:
    """The current *thread* inside the namespace at ``netns_path`` for the block."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def _socket_in(netns_path: str, kind: int) -> socket.socket:
    with entered(netns_path):
        return socket.socket(socket.AF_INET, kind)


def probe(netns_path: str, ip: str, port: int, protocol: str, timeout_s: float) -> tuple[str, str]:
    """One fresh connection from the namespace at ``netns_path``: (observation, detail)."""
    try:
        if protocol == "TCP":
            sock = _socket_in(netns_path, socket.SOCK_STREAM)
        elif protocol == "UDP":
            sock = _socket_in(netns_path, socket.SOCK_DGRAM)
        else:
            return ERROR, f"{protocol} probes are not supported by the lab"
    except OSError as exc:
        return ERROR, f"cannot open a socket in {netns_path}: {exc.strerror or exc}"
    with sock:
        sock.settimeout(timeout_s)
        if protocol == "TCP":
            return _tcp(sock, ip, port, timeout_s)
        return _udp(sock, ip, port, timeout_s)


def _tcp(sock: socket.socket, ip: str, port: int, timeout_s: float) -> tuple[str, str]:
    try:
        sock.connect((ip, port))
    except TimeoutError:
        return BLOCKED, f"no handshake within {timeout_s:g} s"
    except ConnectionRefusedError:
        return BLOCKED, "refused (reset)"
    except OSError as exc:
        return BLOCKED, f"connect failed: {os.strerror(exc.errno) if exc.errno else exc}"
    return ALLOWED, "connected"


def _udp(sock: socket.socket, ip: str, port: int, timeout_s: float) -> tuple[str, str]:
    token = secrets.token_bytes(16)
    try:
        sock.connect((ip, port))
        sock.send(token)
        data = sock.recv(_UDP_MAX_BYTES)
    except TimeoutError:
        return BLOCKED, f"no echo within {timeout_s:g} s"
    except OSError as exc:
        return BLOCKED, f"no echo: {os.strerror(exc.errno) if exc.errno else exc}"
    if data != token:
        return BLOCKED, "an answer that is not our echo"
    return ALLOWED, "echoed"


# -- serve ---------------------------------------------------------------------------------------


def _bind(spec: dict[str, Any]) -> list[socket.socket]:
    out = []
    with entered(spec["netns"]):
        for port in spec.get("tcp", []):
            out.append(socket.create_server((spec["ip"], port), backlog=128))
        for port in spec.get("udp", []):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((spec["ip"], port))
            out.append(udp)
    for sock in out:
        sock.setblocking(False)
    return out


def _on_ready(sock: socket.socket) -> None:
    try:
        if sock.type == socket.SOCK_STREAM:
            conn, _ = sock.accept()
            conn.close()  # the handshake was the proof; nothing to say
        else:
            data, peer = sock.recvfrom(_UDP_MAX_BYTES)
            sock.sendto(data, peer)  # the echo a UDP probe waits for
    except (BlockingIOError, InterruptedError, ConnectionError):
        pass
    except OSError:
        pass  # a reset between readiness and accept: the next probe tries again


def _stop_on_eof(stop: threading.Event) -> None:
    with contextlib.suppress(OSError, ValueError):
        while sys.stdin.buffer.read(4096):
            pass
    stop.set()


def serve(specs: list[dict[str, Any]], stop: threading.Event) -> None:
    """Bind the listeners of ``specs`` (``{netns, ip, tcp: [...], udp: [...]}``), then serve."""
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    try:
        for spec in specs:
            socks += _bind(spec)
        for sock in socks:
            sel.register(sock, selectors.EVENT_READ)
        _emit({"ready": True, "sockets": len(socks)})
        while not stop.is_set():
            for key, _ in sel.select(timeout=0.2):
                _on_ready(key.fileobj)  # type: ignore[arg-type]
    finally:
        sel.close()
        for sock in socks:
            sock.close()


# -- monitor -------------------------------------------------------------------------------------


def _probe_item(item: dict[str, Any], round_no: int, tries: int, timeout_s: float) -> list[str]:
    lines = []
    for attempt in range(1, tries + 1):
        at = utc_now()
        t0 = time.monotonic()
        where = (item["netns"], item["ip"], item["port"], item["protocol"])
        observed, detail = probe(*where, timeout_s)
        elapsed_ms = round((time.monotonic() - t0) * 1000.0, 3)
        doc = {"id": item["id"], "round": round_no, "try": attempt, "at": at}
        doc |= {"observed": observed, "elapsed_ms": elapsed_ms, "detail": detail}
        lines.append(json.dumps(doc))
        if observed == ALLOWED:
            break
    return lines


def monitor(config: dict[str, Any], stop: threading.Event) -> None:
    """Probe all of ``config["probes"]`` (at once) every ``interval_s``, up to ``rounds`` times.

    One JSON line per try; ``{"round_done": k}`` after each round, ``{"done": true}`` at the end.
    """
    interval_s = float(config["interval_s"])
    rounds = int(config["rounds"])
    tries = int(config.get("tries", 3))
    timeout_s = float(config.get("timeout_s", 0.5))
    items = list(config["probes"])
    deadline = time.monotonic() + min(_MONITOR_MAX_S, float(config.get("max_s", _MONITOR_MAX_S)))
    with ThreadPoolExecutor(max_workers=max(1, min(64, len(items)))) as pool:
        for round_no in range(rounds):
            started = time.monotonic()
            n = len(items)
            batches = pool.map(_probe_item, items, [round_no] * n, [tries] * n, [timeout_s] * n)
            for lines in batches:
                for line in lines:
                    sys.stdout.write(line + "\n")
            _emit({"round_done": round_no})
            wait_s = interval_s - (time.monotonic() - started)
            if stop.wait(max(0.0, wait_s)) or time.monotonic() > deadline:
                break
    _emit({"done": True})


def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    """``agent.py serve|monitor JSON``: run until stdin closes or SIGTERM."""
    if len(argv) != 2 or argv[0] not in ("serve", "monitor"):
        sys.stderr.write("usage: agent.py serve|monitor JSON\n")
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=_stop_on_eof, args=(stop,), daemon=True).start()
    try:
        config = json.loads(argv[1])
        if argv[0] == "serve":
            serve(config, stop)
        else:
            monitor(config, stop)
    except (OSError, ValueError, KeyError) as exc:
        _emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
