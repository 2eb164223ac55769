"""A request/response service inside one lab host and a measuring client inside another.

The service answers every request (a 4-byte big-endian length, then that many bytes; 200 by
default) with 200 bytes over keep-alive TCP connections (a scoring call's shape, without the
model). The client sends a bounded number of requests one
after the other from its namespace and records each latency in the harness's HDR histogram
(``harness.measure.LatencyHistogram``); failures are counted by kind.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from harness.measure import LatencyHistogram
from harness.netns import Host

MESSAGE_BYTES = 200


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


@contextlib.contextmanager
def echo_service(host: Host) -> Iterator[int]:
    """Serve on ``host``'s lab address for the block; yield the port."""
    with host.namespace.entered():
        server = socket.create_server((str(host.address), 0), backlog=64)
    server.settimeout(0.2)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5.0)
            with contextlib.suppress(OSError):
                while not stop.is_set():
                    size = int.from_bytes(_recv_exact(conn, 4), "big")
                    _recv_exact(conn, size)
                    conn.sendall(b"a" * MESSAGE_BYTES)

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        acceptor.join(timeout=2)
        server.close()


@dataclass
class Measured:
    """Latencies of the successful requests and a count of each kind of failure."""

    latencies: LatencyHistogram = field(default_factory=LatencyHistogram)
    failures: Counter[str] = field(default_factory=Counter)
    failure_s: list[float] = field(default_factory=list)  # how long each failure took

    @property
    def ok(self) -> int:
        return self.latencies.count


def measure(
    client: Host,
    server: Host,
    port: int,
    *,
    requests: int,
    timeout_s: float,
    request_bytes: int = MESSAGE_BYTES,
) -> Measured:
    """Send ``requests`` requests (bounded), reconnecting after a failure; record each."""
    out = Measured()
    sock: socket.socket | None = None
    payload = request_bytes.to_bytes(4, "big") + b"r" * request_bytes
    for _ in range(requests):
        start = time.perf_counter()
        try:
            if sock is None:
                with client.namespace.entered():
                    sock = socket.create_connection((str(server.address), port), timeout_s)
            sock.sendall(payload)
            _recv_exact(sock, MESSAGE_BYTES)
            out.latencies.record_seconds(time.perf_counter() - start)
        except OSError as exc:
            kind = {
                ConnectionRefusedError: "refused",
                ConnectionResetError: "reset",
                TimeoutError: "timeout",
            }.get(type(exc), type(exc).__name__)
            out.failures[kind] += 1
            out.failure_s.append(time.perf_counter() - start)
            if sock is not None:
                sock.close()
                sock = None
    if sock is not None:
        sock.close()
    return out
