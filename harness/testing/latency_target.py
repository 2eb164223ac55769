"""A loopback HTTP/1.1 test target whose latency distribution is known by construction.

Used by ``benchmarks/bench_generator.py`` and ``tests/load`` (``harness.testing.latency_target``,
or ``python -m harness.testing.latency_target`` by hand): the generator's numbers are compared
with what ``wrk`` sees on this same target in the same run, so the target must treat every
client alike, whatever the pattern of its requests.

Why a single busy-polling thread: a target that blocks between requests answers an open-model
client (requests spaced 5 ms apart, so the target goes idle in between) ~0.1-0.3 ms slower than a
closed-loop one (``wrk -c1`` sends the next request the instant a response arrives), because a
sleeping thread, and on these VMs a halted vCPU, takes that long to wake. asyncio or threads
with ``time.sleep`` add timer effects of their own (epoll's millisecond rounding; the GIL). So
this server does not sleep while it has work: one thread polls ``epoll`` with a zero timeout
and releases each response when the monotonic clock reaches its due time. Its latency is then
the same for every client to within a few microseconds. It burns one core while traffic flows
(it blocks only after 50 ms without any request or pending response): pin it (``taskset``)
away from the clients when measuring.

Latency model (deterministic, so the truth is exact):
- every ``--slow-every``-th request (counted across connections) is due ``--slow-ms`` after it
  arrived, all others ``--base-ms`` (defaults: 2 ms, and every 50th 40 ms: 98% / 2%);
- ``--stall-after-s S --stall-s D``: once, D seconds long, starting S seconds after the first
  request, no response leaves the target: a response due inside the window waits for its end
  (the "1 s stall once" of the coordinated-omission benchmark).

``GET /v2/health/ready`` answers at once (the harness probes it) and is not counted.

TLS (``--tls-cert``/``--tls-key``; ``https://`` in the READY line): the same loop over
non-blocking TLS sockets, the handshake driven by the poll loop before the first request is read;
``--tls-client-ca`` requires a client certificate signed by that CA (mTLS: a client without one
fails its handshake). Certificates for tests come from :mod:`harness.testing.certs`.
Prints ``READY http://127.0.0.1:PORT`` on stdout once listening; exits after ``--lifetime-s``
(default 900 s) or on SIGTERM/SIGINT, so a forgotten target cannot outlive a benchmark for long.
Requests are parsed only as far as their framing (Content-Length); no chunked request bodies.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import select
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import FrameType

_OK_BODY = b'{"ok":true,"score":0.01}'
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_OK_BODY)).encode()
    + b"\r\n\r\n"
    + _OK_BODY
)
_READY_PATH = b"/v2/health/ready"
_MAX_BUFFER = 1 << 20
_IDLE_AFTER_NS = 50_000_000


@dataclass
class Conn:
    """One client connection: unparsed input and responses not yet fully written."""

    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    last_due: int = 0  # responses on one connection leave in request order
    handshaking: bool = False  # TLS: the handshake is not complete yet


class Target:
    """The polling loop (see the module docstring)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.base_ns: int = round(args.base_ms * 1e6)
        self.slow_ns: int = round(args.slow_ms * 1e6)
        self.slow_every: int = args.slow_every
        self.stall_after_ns = round(args.stall_after_s * 1e9)
        self.stall_ns = round(args.stall_s * 1e9)
        self.stall: tuple[int, int] | None = None
        self.counted = 0
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", args.port))
        self.listener.listen(1024)
        self.listener.setblocking(False)
        self.poller = select.epoll()
        self.poller.register(self.listener.fileno(), select.EPOLLIN)
        self.conns: dict[int, Conn] = {}
        self.due: list[tuple[int, int, int]] = []  # (due ns, sequence, fd)
        self.seq = 0
        self.running = True
        self.tls = _server_context(args)

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def serve(self, lifetime_s: float) -> None:
        end = time.monotonic_ns() + round(lifetime_s * 1e9)
        clock = time.monotonic_ns
        last_activity = clock()
        while self.running:
            # Spin while anything happened in the last 50 ms or a response is pending; block
            # briefly only when fully idle (between tests), never during a measured run.
            quiet = not self.due and clock() - last_activity > _IDLE_AFTER_NS
            events = self.poller.poll(0.05 if quiet else 0)
            if events:
                last_activity = clock()
            for fd, mask in events:
                if fd == self.listener.fileno():
                    self._accept()
                elif fd in self.conns and self.conns[fd].handshaking:
                    self._handshake(fd)
                elif mask & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                    self._read(fd)
                if mask & select.EPOLLOUT and fd in self.conns and not self.conns[fd].handshaking:
                    self._flush(self.conns[fd])
            now = clock()
            while self.due and self.due[0][0] <= now:
                _, _, fd = heapq.heappop(self.due)
                conn = self.conns.get(fd)
                if conn is not None:
                    conn.outbuf += _RESPONSE
                    self._flush(conn)
            if now > end:
                break

    def _accept(self) -> None:
        for _ in range(256):
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            self.conns[sock.fileno()] = Conn(sock, handshaking=self.tls is not None)
            self.poller.register(sock.fileno(), select.EPOLLIN)

    def _handshake(self, fd: int) -> None:
        conn = self.conns[fd]
        assert isinstance(conn.sock, ssl.SSLSocket)
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.poller.modify(fd, select.EPOLLIN)
            return
        except ssl.SSLWantWriteError:
            self.poller.modify(fd, select.EPOLLIN | select.EPOLLOUT)
            return
        except OSError:  # a refused client certificate, a reset, a client that is not TLS
            self._close(fd)
            return
        conn.handshaking = False
        self.poller.modify(fd, select.EPOLLIN)
        self._read(fd)  # the first request may already sit decrypted in the TLS buffer

    def _close(self, fd: int) -> None:
        conn = self.conns.pop(fd, None)
        if conn is not None:
            self.poller.unregister(fd)
            conn.sock.close()

    def _read(self, fd: int) -> None:
        conn = self.conns[fd]
        for _ in range(64):  # TLS: drain what is decrypted already (epoll cannot see it)
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError:
                data = b""
            if not data or len(conn.inbuf) > _MAX_BUFFER:
                self._close(fd)
                return
            conn.inbuf += data
            self._parse(conn, fd)
            if not (isinstance(conn.sock, ssl.SSLSocket) and conn.sock.pending()):
                return

    def _parse(self, conn: Conn, fd: int) -> None:
        now = time.monotonic_ns()
        for _ in range(1000):  # requests in this buffer
            head_end = conn.inbuf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(conn.inbuf[:head_end])
            total = head_end + 4 + _content_length(head)
            if len(conn.inbuf) < total:
                return
            del conn.inbuf[:total]
            due = max(now + self._delay(head, now), conn.last_due)
            conn.last_due = due
            self.seq += 1
            heapq.heappush(self.due, (due, self.seq, fd))

    def _delay(self, head: bytes, now: int) -> int:
        if head.split(b" ", 2)[1:2] == [_READY_PATH]:
            return 0
        self.counted += 1
        if self.stall is None and self.stall_ns > 0:
            start = now + self.stall_after_ns
            self.stall = (start, start + self.stall_ns)
        slow = self.slow_every > 0 and self.counted % self.slow_every == 0
        delay = self.slow_ns if slow else self.base_ns
        if self.stall is not None and self.stall[0] <= now + delay < self.stall[1]:
            delay = self.stall[1] - now
        return delay

    def _flush(self, conn: Conn) -> None:
        try:
            sent = conn.sock.send(conn.outbuf)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            sent = 0
        except OSError:
            self._close(conn.sock.fileno())
            return
        del conn.outbuf[:sent]
        mask = select.EPOLLIN | (select.EPOLLOUT if conn.outbuf else 0)
        self.poller.modify(conn.sock.fileno(), mask)


def _server_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_client_ca:
        context.load_verify_locations(cafile=args.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _content_length(head: bytes) -> int:
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = lower.find(b"\r\n", at + 2)
    return int(lower[at + 17 : end if end >= 0 else None].strip())


@contextlib.contextmanager
def launched(*args: str, lifetime_s: float = 300.0, prefix: Sequence[str] = ()) -> Iterator[str]:
    """Run this target as a subprocess (``prefix`` e.g. a ``taskset`` pinning); yield its URL once
    it printed READY; always stop it (SIGTERM, then SIGKILL)."""
    cmd = [*prefix, sys.executable, __file__, "--lifetime-s", str(lifetime_s), *args]
    with ready_process(cmd) as url:
        yield url


@contextlib.contextmanager
def ready_process(cmd: Sequence[str]) -> Iterator[str]:
    """Run ``cmd`` (a target that prints ``READY <url>`` once listening); yield the URL; always
    stop it (SIGTERM, then SIGKILL). Also the benchmarks' own targets use it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"target did not start: {line!r}")
        yield line.split(" ", 1)[1]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--base-ms", type=float, default=2.0)
    parser.add_argument("--slow-ms", type=float, default=40.0)
    parser.add_argument("--slow-every", type=int, default=50, help="0: never slow")
    parser.add_argument("--stall-after-s", type=float, default=0.0)
    parser.add_argument("--stall-s", type=float, default=0.0, help="0: no stall")
    parser.add_argument("--lifetime-s", type=float, default=900.0)
    parser.add_argument("--tls-cert", help="serve TLS with this PEM certificate")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument("--tls-client-ca", help="require client certificates from this CA (mTLS)")
    args = parser.parse_args(argv)
    target = Target(args)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        target.running = False

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    scheme = "https" if target.tls is not None else "http"
    print(f"READY {scheme}://127.0.0.1:{target.port}", flush=True)
    target.serve(args.lifetime_s)


if __name__ == "__main__":
    main()
