"""The client's deadlines under gevent, as in the generator (the pytest process is never
monkey-patched, so this runs in its own process): stalled servers, a half response, TLS, many
slots with different deadlines. Prints one JSON object; every case is bounded (a stuck case is
reported as "hung", not waited for).

Usage: ``python tests/load/_deadline_child.py PKI_DIR`` (the test passes its own tmp dir)
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import contextlib  # noqa: E402
import json  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402

from harness.load.deadline import watchdog  # noqa: E402
from harness.load.http import ClientError, HttpConnection, build_request  # noqa: E402
from harness.testing import make_test_pki  # noqa: E402

REQ = build_request("POST", "localhost", "/v1/score", b'{"a":1}')
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
_CASE_BOUND_S = 8.0


def _read_request(conn: Any) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    return True


def server(handle: Callable[[Any], None], tls: ssl.SSLContext | None = None) -> int:
    """A loopback server (a greenlet) running ``handle`` per connection; returns its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def one(conn: Any) -> None:
        try:
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def accept() -> None:
        for _ in range(1000):
            conn, _ = listener.accept()
            gevent.spawn(one, conn)

    gevent.spawn(accept)
    return int(listener.getsockname()[1])


def stall(conn: Any) -> None:
    if _read_request(conn):
        gevent.sleep(30)


def half(conn: Any) -> None:
    if _read_request(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        gevent.sleep(30)


def silent(conn: Any) -> None:
    gevent.sleep(30)


def delayed(delay_s: float) -> Callable[[Any], None]:
    def handle(conn: Any) -> None:
        for _ in range(10_000):
            if not _read_request(conn):
                return
            gevent.sleep(delay_s)
            conn.sendall(OK)

    return handle


def counting(seen: list[int]) -> Callable[[Any], None]:
    """Answers at once and counts the requests it read."""

    def handle(conn: Any) -> None:
        for _ in range(10_000):
            if not _read_request(conn):
                return
            seen.append(1)
            conn.sendall(OK)

    return handle


def past_deadline() -> dict[str, Any]:
    """An exchange whose deadline has already passed on a live connection: refused before
    anything is sent (the server reads the first request only)."""
    seen: list[int] = []
    with HttpConnection("127.0.0.1", server(counting(seen))) as conn:
        first = exchange(conn, 0.5)["outcome"]
        try:
            conn.exchange(REQ, time.monotonic_ns() - 1)
            late = "sent"
        except ClientError as exc:
            late = f"{type(exc).__name__}: {exc}"
    gevent.sleep(0.05)  # a request sent anyway would be read by now
    return {"first": first, "late": late, "requests": len(seen)}


def exchange(conn: HttpConnection, timeout_s: float) -> dict[str, Any]:
    """One exchange: its outcome and how late it ended against its deadline (ms)."""
    deadline = time.monotonic_ns() + int(timeout_s * 1e9)
    try:
        reply = conn.exchange(REQ, deadline)
        outcome, message = f"status {reply.status}", ""
    except ClientError as exc:
        outcome, message = type(exc).__name__, str(exc)
    late_ms = (time.monotonic_ns() - deadline) / 1e6
    return {"outcome": outcome, "message": message, "late_ms": late_ms}


def unaccepted_port() -> int:
    """A listener whose accept queue is full: a further connect hangs (its SYN is dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    for _ in range(4):  # backlog 0 holds one; the others wait for their SYN retransmit
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        _KEEP.append(filler)
    _KEEP.append(listener)
    gevent.sleep(0.05)
    return port


_KEEP: list[Any] = []  # sockets that must stay open until the process ends


def bounded(case: Callable[[], Any]) -> Any:
    try:
        with gevent.Timeout(_CASE_BOUND_S):
            return case()
    except gevent.Timeout:
        return "hung"


def many_slots(stall_port: int, busy_port: int) -> dict[str, Any]:
    """8 slots stalled with deadlines 100..380 ms apart while 2 slots keep exchanging with a
    server that answers in 5 ms under 300 ms deadlines."""
    stop = [False]
    busy: list[str] = []

    def keep_busy() -> None:
        with HttpConnection("127.0.0.1", busy_port) as conn:
            for _ in range(10_000):
                if stop[0]:
                    return
                busy.append(exchange(conn, 0.3)["outcome"])

    workers = [gevent.spawn(keep_busy) for _ in range(2)]
    slots = [
        gevent.spawn(exchange, HttpConnection("127.0.0.1", stall_port), 0.1 + 0.04 * i)
        for i in range(8)
    ]
    gevent.joinall(slots)
    stop[0] = True
    gevent.joinall(workers)
    return {"stalled": [s.value for s in slots], "busy": sorted(set(busy)), "busy_n": len(busy)}


def main() -> None:
    pki = make_test_pki(Path(sys.argv[1]))  # the test's tmp dir: nothing left in /tmp
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(pki.server_cert, pki.server_key)
    client_tls = ssl.create_default_context(cafile=str(pki.ca))
    ports = {
        "stall": server(stall),
        "half": server(half),
        "busy": server(delayed(0.005)),
        "slow": server(delayed(0.06)),
        "tls_stall": server(stall, server_tls),
        "tls_silent": server(silent),
    }

    def tls(port: str) -> HttpConnection:
        return HttpConnection(
            "127.0.0.1", ports[port], ssl_context=client_tls, server_name="localhost"
        )

    def recovers() -> list[dict[str, Any]]:
        with HttpConnection("127.0.0.1", ports["slow"]) as conn:
            return [exchange(conn, 0.02), exchange(conn, 0.5), exchange(conn, 0.12)]

    out: dict[str, Any] = {
        "many": bounded(lambda: many_slots(ports["stall"], ports["busy"])),
        "half": bounded(lambda: exchange(HttpConnection("127.0.0.1", ports["half"]), 0.2)),
        "tls_stall": bounded(lambda: exchange(tls("tls_stall"), 0.2)),
        "tls_handshake": bounded(lambda: exchange(tls("tls_silent"), 0.2)),
        "recovers": bounded(recovers),
        "past": bounded(past_deadline),
        "connect": bounded(lambda: exchange(HttpConnection("127.0.0.1", unaccepted_port()), 0.2)),
    }
    dog = watchdog()
    assert dog is not None
    out["fired"], out["arms"] = dog.fired, dog.arms
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
