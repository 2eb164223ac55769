"""The control API's own HTTP server (asyncio + h11): framing, keep-alive, limits, no uvloop needed.

Driven in-process over raw loopback sockets, so each test states the bytes on the wire; the
routes themselves are covered through the real process in ``test_proxy_process.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable

import pytest

from harness.chaos.proxy import ProxyClient
from harness.chaos.proxy.control import serve_control, stop_control
from harness.chaos.proxy.main import loop_factory
from harness.chaos.proxy.runtime import ProxyRegistry

Exchange = Callable[[bytes], Awaitable[bytes]]
_WAIT_S = 5.0


def _with_server(body: Callable[[str, int], Awaitable[None]]) -> None:
    async def main() -> None:
        registry = ProxyRegistry(0)
        server, sock = serve_control(registry, "127.0.0.1", 0)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        try:
            await body(*sock.getsockname()[:2])
        finally:
            await stop_control(server, task)
            await registry.close()
            sock.close()
        assert task.done()

    asyncio.run(main())


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _WAIT_S)
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def test_requests_share_one_keep_alive_connection() -> None:
    """Three requests on one connection, one of them chunked: three JSON answers, in order."""

    async def body(host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        create = json.dumps({"name": "p", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"})
        chunked = f"{len(create):x}\r\n{create}\r\n0\r\n\r\n"
        writer.write(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        writer.write(
            b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + chunked.encode()
        )
        writer.write(b"GET /proxies/p HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        answers = [await _read_response(reader) for _ in range(3)]
        assert [a[0] for a in answers] == [200, 201, 200]
        assert json.loads(answers[0][2]) == {"version": "slo-harness-proxy/1"}
        assert json.loads(answers[2][2])["name"] == "p"
        assert all(a[1]["content-type"] == "application/json" for a in answers)
        writer.close()

    _with_server(body)


def test_an_oversized_body_is_413_and_the_connection_closes() -> None:
    """A body over 64 KiB: 413 with a JSON error, then the server closes the connection."""

    async def body(host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        size = 64 * 1024 + 1
        writer.write(b"POST /proxies HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        writer.write(b"x" * size)
        await writer.drain()
        status, _, payload = await _read_response(reader)
        assert status == 413
        assert json.loads(payload) == {"error": "body larger than 65536 bytes", "status": 413}
        assert await asyncio.wait_for(reader.read(), _WAIT_S) == b""
        writer.close()

    _with_server(body)


@pytest.mark.parametrize(
    "request_bytes",
    [b"NOT HTTP AT ALL\r\n\r\n", b"GET /version HTTP/1.1\r\nno colon here\r\n\r\n"],
)
def test_a_malformed_request_is_400_not_a_crash(request_bytes: bytes) -> None:
    """Garbage on the wire: a 400 JSON error, the connection closed, the server still serving."""

    async def body(host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request_bytes)
        await writer.drain()
        status, _, payload = await _read_response(reader)
        assert status == 400
        assert json.loads(payload)["error"].startswith("bad request")
        assert await asyncio.wait_for(reader.read(), _WAIT_S) == b""
        writer.close()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        assert (await _read_response(reader))[0] == 404
        writer.close()

    _with_server(body)


def test_stopping_closes_idle_keep_alive_connections() -> None:
    """stop_control ends the server (bounded) while a client holds an idle connection open."""

    async def main() -> None:
        registry = ProxyRegistry(0)
        server, sock = serve_control(registry, "127.0.0.1", 0)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        writer.write(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await _read_response(reader))[0] == 200
        await stop_control(server, task)
        assert task.done()
        assert await asyncio.wait_for(reader.read(), _WAIT_S) == b""  # closed by the server
        writer.close()
        await registry.close()
        sock.close()

    asyncio.run(main())


_NO_UVLOOP = (
    "import sys; sys.modules['uvloop'] = None;"  # import uvloop now raises ImportError
    "from harness.chaos.proxy.main import main; main(sys.argv[1:])"
)


def test_the_proxy_runs_without_uvloop() -> None:
    """With uvloop unimportable the proxy process starts on asyncio's loop and serves its API."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "uvloop", None)
        assert loop_factory() is None
    proc = subprocess.Popen(
        [sys.executable, "-c", _NO_UVLOOP, "--control", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        with ProxyClient(ready["control"]) as client:
            assert client.version() == "slo-harness-proxy/1"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
