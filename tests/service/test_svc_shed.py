"""Hole 10 of issue 10: a request admission refuses is answered by the protocol from its headers
(no task, no body read), and the connection stays usable: the refused request's body is
discarded as it arrives, the next request on the same connection is served."""

from __future__ import annotations

import json
import socket
import time

import httpx
from svc_support import ServiceFactory, transaction


def _score_head(body: bytes, close: bool = False) -> bytes:
    return (
        b"POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        + (b"connection: close\r\n" if close else b"") + b"\r\n"
    )  # fmt: skip


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before a response"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    while len(rest) < int(headers["content-length"]):
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest


def _wait_in_flight(client: httpx.Client, n: int) -> None:
    deadline = time.monotonic() + 10
    while f"slo_in_flight_requests {float(n)}" not in client.get("/metrics").text:
        assert time.monotonic() < deadline, f"never saw {n} requests in flight"
        time.sleep(0.01)


def test_refusal_from_headers_keeps_the_connection(services: ServiceFactory) -> None:
    """At the limit: 503 + Retry-After before the body is sent; the late body is discarded and
    the next request on the same keep-alive connection is served; `Connection: close` closes."""
    svc = services.start("--max-in-flight", "1", "--debug-handler-delay-ms", "1500")
    host, port = svc.base.removeprefix("http://").split(":")
    body = json.dumps(transaction()).encode()
    with socket.create_connection((host, int(port)), timeout=10) as parked:
        parked.sendall(_score_head(body) + body)  # admitted, then held in the handler
        _wait_in_flight(svc.client, 1)
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(_score_head(body))  # headers only: refused before any body byte
            status, headers, reply = _read_response(sock)
            assert status == 503
            assert headers["retry-after"] == "1"
            assert "connection" not in headers  # kept open
            assert json.loads(reply)["error"] == "overloaded, retry later"
            sock.sendall(body + _score_head(body) + body)  # the late body, then a second request
            assert _read_response(sock)[0] == 503
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n")
            assert _read_response(sock)[0] == 200  # the discarded bodies left the parser in step
            sock.sendall(_score_head(body, close=True) + body)
            status, headers, _ = _read_response(sock)
            assert (status, headers["connection"]) == (503, "close")
            assert sock.recv(1) == b""  # closed by the service
        assert _read_response(parked)[0] == 200  # the admitted one was served meanwhile
    metrics = svc.client.get("/metrics").text
    assert 'slo_shed_requests_total{reason="overload"} 3.0' in metrics
    assert len(svc.audit_lines()) == 1  # only the admitted request was decided
