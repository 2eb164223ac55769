"""The lean HTTP/1.1 client: framing, keep-alive, stale connections, timeouts, errors.

Runs on plain blocking sockets (the same code runs on gevent's sockets in the generator) against
a scripted loopback server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest

from harness.load.http import (
    ConnectFailed,
    ConnectionLost,
    HttpConnection,
    ProtocolError,
    RequestTimeout,
    build_request,
)

Script = Callable[[socket.socket, int], None]  # (connection, index of the connection)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            need = int(line.split(b":")[1])
            while len(body) < need:
                body += conn.recv(65536)
    return data


@contextmanager
def scripted_server(script: Script) -> Iterator[tuple[int, list[int]]]:
    """A loopback server running ``script`` per accepted connection; yields (port, accepted)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            index = len(accepted) - 1

            def handle(c: socket.socket = conn, i: int = index) -> None:
                with c, suppress(OSError):
                    script(c, i)

            threading.Thread(target=handle, daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def _respond_forever(response: bytes, limit: int = 100) -> Script:
    def script(conn: socket.socket, _index: int) -> None:
        for _ in range(limit):
            if not _read_request(conn):
                return
            conn.sendall(response)

    return script


def _deadline(seconds: float = 2.0) -> int:
    return time.monotonic_ns() + int(seconds * 1e9)


REQ = build_request("POST", "127.0.0.1:1", "/v1/score", b'{"a":1}')


def test_build_request_is_one_complete_http11_message() -> None:
    """Head with Host, Content-Type and Content-Length, then the body; GET has no length."""
    data = build_request("POST", "127.0.0.1:8080", "/v1/score", b'{"x":1}')
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n")
    assert b"\r\nContent-Length: 7" in head
    assert body == b'{"x":1}'
    get = build_request("GET", "h", "/v2/health/ready")
    assert get.endswith(b"\r\n\r\n")
    assert b"Content-Length" not in get


def test_content_length_responses_reuse_one_connection() -> None:
    """Ten exchanges travel on one keep-alive connection; status and body size are reported."""
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    with (
        scripted_server(_respond_forever(response)) as (port, accepted),
        HttpConnection("127.0.0.1", port) as conn,
    ):
        replies = [conn.exchange(REQ, _deadline()) for _ in range(10)]
    assert {(r.status, r.body_length, r.snippet) for r in replies} == {(200, 5, b"")}
    assert len(accepted) == 1


def test_a_request_larger_than_the_send_buffer_arrives_whole() -> None:
    """A body of 2 MB (many partial sends against a slow reader) reaches the server intact."""
    body = bytes(range(256)) * (2 * 4096)
    got: list[int] = []

    def script(conn: socket.socket, _index: int) -> None:
        time.sleep(0.05)  # let the client fill both socket buffers first
        data = bytearray()
        while not data.endswith(body[-256:]) and (chunk := conn.recv(1 << 20)):
            data += chunk
        got.append(len(data.partition(b"\r\n\r\n")[2]))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    with scripted_server(script) as (port, _), HttpConnection("127.0.0.1", port) as conn:
        conn._connect(_deadline())
        conn._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # type: ignore[union-attr]
        reply = conn.exchange(build_request("POST", "h", "/big", body), _deadline(10.0))
    assert reply.status == 200
    assert got == [len(body)]


def test_marks_order_the_exchange_and_completion_is_the_last_read() -> None:
    """written <= first byte <= last read <= return: a slot records the last read, so the
    client's parsing after it never counts as the target's latency."""
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    with (
        scripted_server(_respond_forever(response)) as (port, _),
        HttpConnection("127.0.0.1", port) as conn,
    ):
        for _ in range(3):
            before = time.monotonic_ns()
            conn.exchange(REQ, _deadline())
            after = time.monotonic_ns()
            assert before <= conn.written_ns <= conn.first_byte_ns <= conn.last_read_ns <= after


def test_chunked_response_with_trailers_is_read_to_its_end() -> None:
    """Chunks (with an extension and a trailer) are walked; the next exchange still works."""
    response = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    with (
        scripted_server(_respond_forever(response)) as (port, accepted),
        HttpConnection("127.0.0.1", port) as conn,
    ):
        first = conn.exchange(REQ, _deadline())
        second = conn.exchange(REQ, _deadline())
    assert first.status == second.status == 200
    assert first.body_length > 9
    assert len(accepted) == 1


def test_connection_close_and_unframed_bodies() -> None:
    """``Connection: close`` drops the socket after the response; an unframed body runs to EOF."""

    def script(conn: socket.socket, index: int) -> None:
        _read_request(conn)
        if index == 0:
            conn.sendall(
                b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            )
        else:
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")

    with scripted_server(script) as (port, accepted):
        conn = HttpConnection("127.0.0.1", port)
        first = conn.exchange(REQ, _deadline())
        assert not conn.connected
        second = conn.exchange(REQ, _deadline())
    assert (first.status, first.body_length) == (201, 2)
    assert (second.status, second.body_length) == (200, len(b"until the end"))
    assert len(accepted) == 2


def test_error_responses_keep_a_snippet() -> None:
    """A 4xx/5xx keeps the first bytes of its body for the error message."""
    body = b'{"error":"bad amount"}'
    response = b"HTTP/1.1 422 Unprocessable\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with (
        scripted_server(_respond_forever(response)) as (port, _),
        HttpConnection("127.0.0.1", port) as conn,
    ):
        reply = conn.exchange(REQ, _deadline())
    assert reply.status == 422
    assert reply.snippet == body


@pytest.mark.parametrize("pause_s", [0.05, 0.6])
def test_a_connection_closed_by_the_server_while_idle_is_replaced(pause_s: float) -> None:
    """The server closes after each response without saying so; every request still succeeds
    on a fresh connection: retried when the close races the send (short pause), detected
    before reuse after a longer idle period."""

    def script(conn: socket.socket, _index: int) -> None:
        _read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with scripted_server(script) as (port, accepted):
        statuses = []
        with HttpConnection("127.0.0.1", port) as conn:
            for _ in range(3):
                statuses.append(conn.exchange(REQ, _deadline()).status)
                time.sleep(pause_s)
    assert statuses == [200] * 3
    assert len(accepted) == 3


def test_no_response_before_the_deadline_is_a_timeout() -> None:
    """A server that never answers: RequestTimeout at the deadline, not later."""

    def script(conn: socket.socket, _index: int) -> None:
        _read_request(conn)
        time.sleep(2)

    with scripted_server(script) as (port, _):
        conn = HttpConnection("127.0.0.1", port)
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            conn.exchange(REQ, _deadline(0.3))
        elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 1.0
    assert not conn.connected


def test_refused_connection_is_connect_failed() -> None:
    """Nothing listening: ConnectFailed, promptly."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectFailed):
        HttpConnection("127.0.0.1", port).exchange(REQ, _deadline())


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (b"SMTP ready\r\n\r\n", ProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", ProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", ConnectionLost),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", ProtocolError),
    ],
)
def test_malformed_responses_are_client_errors(response: bytes, error: type[Exception]) -> None:
    """Garbage, a bad length, a truncated body and trailing bytes each raise a ClientError."""

    def script(conn: socket.socket, _index: int) -> None:
        _read_request(conn)
        conn.sendall(response)

    with scripted_server(script) as (port, _):
        conn = HttpConnection("127.0.0.1", port)
        with pytest.raises(error):
            conn.exchange(REQ, _deadline(1.0))
    assert not conn.connected
