"""Small local targets for the fault-proxy tests, and measurement with the harness's HDR core.

- :func:`http_target`: an HTTP/1.1 keep-alive server on 127.0.0.1 (a free port) that answers
  every request with one write (no Nagle stall between head and body); POST bodies are read by
  Content-Length or chunked coding and their size echoed back.
- :func:`tcp_target`: a TCP echo server; a client that sends ``b"bye"`` gets its connection closed.
- :func:`interleaved`: direct and proxied requests alternated on two keep-alive connections, each
  latency recorded in a :class:`~harness.measure.LatencyHistogram`, so both paths see the same
  machine noise.

Every server thread stops, and every socket closes, when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.chaos.proxy import ProxyHandle
from harness.load.http import HttpConnection, Reply, build_request
from harness.measure import LatencyHistogram

REQUEST_TIMEOUT_S = 5.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _reply(self, body: bytes, status: int = 200) -> None:
        head = f"HTTP/1.1 {status} OK\r\nContent-Length: {len(body)}\r\n"
        head += "Content-Type: application/json\r\n\r\n"
        self.wfile.write(head.encode() + body)

    def do_GET(self) -> None:
        self._reply(b'{"ok":true}')

    def do_HEAD(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            size = 0
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                size += len(self.rfile.read(n))
                self.rfile.readline()
        else:
            size = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self._reply(b'{"received":%d}' % size)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def http_target() -> Iterator[tuple[str, int]]:
    """Serve on a free loopback port for the block; yield (host, port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield "127.0.0.1", int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5.0)


def _echo(conn: socket.socket) -> None:
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data or data.endswith(b"bye"):
                return
            try:
                conn.sendall(data)
            except OSError:
                return


@contextlib.contextmanager
def tcp_target() -> Iterator[tuple[str, int]]:
    """A TCP echo server on a free loopback port; ``b"bye"`` closes a connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield "127.0.0.1", int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5.0)
        listener.close()


def split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def get(path: str = "/") -> bytes:
    return build_request("GET", "target", path)


def exchange(conn: HttpConnection, request: bytes) -> Reply:
    return conn.exchange(request, time.monotonic_ns() + int(REQUEST_TIMEOUT_S * 1e9))


def timed(conn: HttpConnection, request: bytes, hist: LatencyHistogram) -> Reply:
    start = time.perf_counter_ns()
    reply = exchange(conn, request)
    hist.record(max(1, (time.perf_counter_ns() - start) // 1000))
    return reply


def interleaved(
    base: HttpConnection,
    other: HttpConnection,
    request: bytes,
    rounds: int,
    *,
    base_idle_s: float = 0.0,
) -> tuple[LatencyHistogram, LatencyHistogram]:
    """Alternate one ``base`` and one ``other`` request ``rounds`` times (bounded in count);
    ``base_idle_s`` leaves the machine idle that long before each ``base`` request."""
    hist_base, hist_other = LatencyHistogram(), LatencyHistogram()
    for _ in range(rounds):
        if base_idle_s:
            time.sleep(base_idle_s)
        timed(base, request, hist_base)
        timed(other, request, hist_other)
    return hist_base, hist_other


def median_p50_shift_ms(
    base: HttpConnection,
    other: HttpConnection,
    request: bytes | None = None,
    *,
    rounds: int = 5,
    per_round: int = 40,
    base_idle_s: float = 0.0,
) -> float:
    """``other``'s p50 minus ``base``'s, per round of interleaved requests; the median over the
    rounds. A burst of contention on this shared machine spoils a round, not the result."""
    exchange(base, request or get())
    exchange(other, request or get())
    shifts = []
    for _ in range(rounds):
        h_base, h_other = interleaved(
            base, other, request or get(), per_round, base_idle_s=base_idle_s
        )
        shifts.append((h_other.percentile_us(50) - h_base.percentile_us(50)) / 1000)
    return statistics.median(shifts)


def connect(address: tuple[str, int], timeout_s: float = 5.0) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, n: int, deadline_s: float) -> tuple[bytes, list[int]]:
    """Read up to ``n`` bytes before ``deadline_s`` (monotonic) or EOF; also the recv sizes."""
    data = bytearray()
    sizes: list[int] = []
    while len(data) < n and time.monotonic() < deadline_s:
        sock.settimeout(max(0.01, deadline_s - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        sizes.append(len(chunk))
        data += chunk
    return bytes(data), sizes


@dataclass(frozen=True)
class Proxied:
    """A target, the proxy in front of it, and the proxy's name."""

    target: tuple[str, int]
    handle: ProxyHandle
    name: str = "target"

    @property
    def address(self) -> tuple[str, int]:
        return split(self.handle.listen[self.name])


def sibling(p: Proxied, name: str) -> tuple[str, int]:
    """A second proxy ``name`` in the same process, to the same target (created once): the
    baseline path for a fault's effect, with the same proxy overhead and the same noise."""
    client = p.handle.client
    if name not in client.proxies():
        protocol = client.proxy(p.name)["protocol"]
        client.create_proxy(name, f"{p.target[0]}:{p.target[1]}", protocol=protocol)
    return split(client.proxy(name)["listen"])


def within_in_some_attempt(
    measure: Callable[[], float], low: float, high: float, attempts: int = 3
) -> tuple[bool, list[float]]:
    """Measure up to ``attempts`` times until a value falls in [low, high].

    Why: on this shared 2-core machine other jobs' bursts add delay to timer wake-ups (the
    noise is one-sided: it only ever adds), so one measurement can land outside a tight bound
    even though the proxy is right. A wrong proxy stays wrong in every attempt: an added delay
    that is too large cannot be made smaller by noise.
    """
    values: list[float] = []
    for _ in range(attempts):
        values.append(measure())
        if low <= values[-1] <= high:
            return True, values
    return False, values
