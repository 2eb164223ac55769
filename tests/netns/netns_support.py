"""Socket helpers for the namespace tests: listeners and connects made inside a namespace."""

from __future__ import annotations

import socket
import time

from harness.netns import Host


def tcp_listener(host: Host, port: int = 0) -> socket.socket:
    """A listening TCP socket created inside ``host``'s namespace, bound to its lab address."""
    with host.namespace.entered():
        sock = socket.create_server((str(host.address), port), backlog=64)
    return sock


def connect_from(host: Host, address: str, port: int, timeout_s: float) -> socket.socket:
    """A TCP connection opened from inside ``host``'s namespace (raises OSError on failure)."""
    with host.namespace.entered():
        return socket.create_connection((address, port), timeout=timeout_s)


def timed_connect(host: Host, address: str, port: int, timeout_s: float) -> tuple[str, float]:
    """Try one connect; return (outcome, seconds): ok, refused, timeout or the errno name."""
    start = time.perf_counter()
    try:
        connect_from(host, address, port, timeout_s).close()
        outcome = "ok"
    except ConnectionRefusedError:
        outcome = "refused"
    except TimeoutError:
        outcome = "timeout"
    except OSError as exc:
        outcome = f"errno {exc.errno}"
    return outcome, time.perf_counter() - start
