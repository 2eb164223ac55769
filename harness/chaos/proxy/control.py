"""The control API: Toxiproxy's JSON-over-HTTP routes, served on loopback only.

Routes (JSON bodies; errors are ``{"error": message, "status": code}``):

=========================================  =============================================
``GET /version``                            ``{"version": ...}``
``GET /proxies``                            ``{name: proxy}``
``POST /proxies``                           create (``name, listen, upstream, enabled,
                                            protocol``) -> 201
``GET|DELETE /proxies/{p}``                 one proxy / remove it (204)
``POST /proxies/{p}``                       ``{"enabled": bool}``: up or down
``GET /proxies/{p}/stats``                  connection and request counters
``GET|POST /proxies/{p}/toxics``            list / add (409 if the name exists)
``GET|POST|DELETE /proxies/{p}/toxics/{t}`` one / change (fields merged, as Toxiproxy) / remove
``POST /reset``                             every proxy enabled, every toxic removed (204)
=========================================  =============================================

Why asyncio streams + h11 and not an ASGI server: the control API is off the hot path and serves
a handful of requests per game day, so it needs no server framework; uvicorn here would make the
whole service stack a dependency of every harness install. h11 (already installed with httpx)
does the HTTP/1.1 framing (request line, headers, Content-Length and chunked bodies, keep-alive),
which is the part worth not hand-writing. The server runs as a task in the proxy's own event loop
(the proxy process owns its signals), so a change is applied between two chunks of proxied data,
never concurrently with them. Limits: request head 16 KiB, body 64 KiB (413), a connection idle
for :data:`IDLE_TIMEOUT_S` is closed.

The bind rule: :func:`serve_control` refuses any address but loopback. The API can open
listeners and reset connections; nothing outside this machine may reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import unquote

import h11
import msgspec

from harness.chaos.proxy.model import check_address, parse_proxy, parse_toxic, toxic_to_json
from harness.chaos.proxy.runtime import ProxyRegistry, ProxyRuntime
from harness.errors import ProxyError

__all__ = [
    "API_VERSION",
    "IDLE_TIMEOUT_S",
    "ControlApp",
    "ControlServer",
    "serve_control",
    "stop_control",
]

API_VERSION: Final = "slo-harness-proxy/1"
IDLE_TIMEOUT_S: Final = 30.0  # a keep-alive connection with no request for this long is closed
_MAX_BODY_BYTES: Final = 64 * 1024
_MAX_HEAD_BYTES: Final = 16 * 1024
_READ_BYTES: Final = 64 * 1024
_KNOWN_STATUSES: Final = frozenset(s.value for s in HTTPStatus)


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlApp:
    """The routes over a :class:`ProxyRegistry`: (method, path, body) -> (status, JSON payload)."""

    def __init__(self, registry: ProxyRegistry) -> None:
        self.registry = registry

    async def handle(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        """Answer one request; a refusal is a status with ``{"error", "status"}``, never a raise."""
        try:
            return await self._route(method, path, body)
        except _HttpError as exc:
            return _error(exc.status, str(exc))
        except ProxyError as exc:
            return _error(400, str(exc))

    async def _route(self, method: str, path: str, body: bytes) -> tuple[int, object]:
        parts = [p for p in path.split("/") if p]
        if parts == ["version"] and method == "GET":
            return 200, {"version": API_VERSION}
        if parts == ["reset"] and method == "POST":
            await self.registry.reset()
            return 204, None
        if parts[:1] != ["proxies"]:
            raise _HttpError(404, f"no route {method} {path}")
        if len(parts) == 1:
            return await self._proxies(method, body)
        proxy_name = parts[1]
        if len(parts) == 2:
            return await self._proxy(method, proxy_name, body)
        if parts[2:] == ["stats"] and method == "GET":
            return 200, self._get(proxy_name).stats_json()
        if parts[2] == "toxics" and len(parts) in (3, 4):
            return self._toxics(method, proxy_name, parts[3] if len(parts) == 4 else None, body)
        raise _HttpError(404, f"no route {method} {path}")

    async def _proxies(self, method: str, body: bytes) -> tuple[int, object]:
        if method == "GET":
            return 200, {n: p.to_json() for n, p in self.registry.proxies.items()}
        if method != "POST":
            raise _HttpError(405, f"{method} /proxies: expected GET or POST")
        config = parse_proxy(_decode(body), "$")
        try:
            proxy = await self.registry.create(config)
        except KeyError:
            raise _HttpError(409, f"proxy {config.name!r} exists") from None
        return 201, proxy.to_json()

    async def _proxy(self, method: str, name: str, body: bytes) -> tuple[int, object]:
        proxy = self._get(name)
        if method == "GET":
            return 200, proxy.to_json()
        if method == "DELETE":
            await self.registry.delete(name)
            return 204, None
        if method != "POST":
            raise _HttpError(405, f"{method} /proxies/{name}: expected GET, POST or DELETE")
        doc = _decode(body)
        enabled = doc.get("enabled") if isinstance(doc, dict) else None
        if not isinstance(enabled, bool) or set(doc) - {"enabled", "name"}:
            raise ProxyError('$.enabled: expected {"enabled": true|false} (only that can change)')
        await proxy.set_enabled(enabled)
        return 200, proxy.to_json()

    def _toxics(self, method: str, name: str, toxic: str | None, body: bytes) -> tuple[int, object]:
        proxy = self._get(name)
        if toxic is None:
            if method == "GET":
                return 200, [toxic_to_json(t) for t in proxy.toxics]
            if method != "POST":
                raise _HttpError(405, f"{method} toxics: expected GET or POST")
            parsed = parse_toxic(_decode(body))
            self._check_http(proxy.protocol.value, parsed.kind.value)
            try:
                proxy.put_toxic(parsed, replace=False)
            except KeyError:
                raise _HttpError(409, f"toxic {parsed.name!r} exists on {name!r}") from None
            return 200, toxic_to_json(parsed)
        try:
            current = proxy.toxic(toxic)
        except KeyError:
            raise _HttpError(404, f"no toxic {toxic!r} on proxy {name!r}") from None
        if method == "GET":
            return 200, toxic_to_json(current)
        if method == "DELETE":
            proxy.remove_toxic(toxic)
            return 204, None
        if method != "POST":
            raise _HttpError(405, f"{method} toxic: expected GET, POST or DELETE")
        merged = _merge(toxic_to_json(current), _decode(body))
        merged["name"] = toxic
        parsed = parse_toxic(merged)
        proxy.put_toxic(parsed, replace=True)
        return 200, toxic_to_json(parsed)

    @staticmethod
    def _check_http(protocol: str, kind: str) -> None:
        if kind == "http" and protocol != "http":
            raise ProxyError("$.type: an http toxic needs a proxy with protocol 'http'")

    def _get(self, name: str) -> ProxyRuntime:
        try:
            return self.registry.get(name)
        except KeyError:
            raise _HttpError(404, f"no proxy {name!r}") from None


def _merge(current: dict[str, Any], change: object) -> dict[str, Any]:
    if not isinstance(change, dict):
        raise ProxyError("$: expected a JSON object")
    merged = {**current, **{k: v for k, v in change.items() if k != "attributes"}}
    if isinstance(change.get("attributes"), dict):
        merged["attributes"] = {**current["attributes"], **change["attributes"]}
    return merged


def _decode(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body or b"{}")
    except msgspec.DecodeError as exc:
        raise ProxyError(f"$: expected JSON ({exc})") from None


def _error(status: int, message: str) -> tuple[int, object]:
    return status, {"error": message, "status": status}


class ControlServer:
    """The control API's HTTP/1.1 server: asyncio streams, h11 framing, keep-alive.

    ``serve(sockets=[sock])`` runs until :func:`stop_control`; ``started`` is true once it accepts.
    """

    def __init__(self, app: ControlApp) -> None:
        self.app = app
        self.started = False
        self._stop = asyncio.Event()
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def serve(self, sockets: list[socket.socket]) -> None:
        server = await asyncio.start_server(self._accepted, sock=sockets[0])
        self.started = True
        try:
            await self._stop.wait()
        finally:
            server.close()
            # Closing a connection's transport ends its task (the reader sees end of stream);
            # cancelling it instead would make asyncio log the cancellation as an error.
            for writer in list(self._open.values()):
                writer.close()
            if self._open:
                await asyncio.wait(list(self._open), timeout=1.0)
            await server.wait_closed()

    def shutdown(self) -> None:
        self._stop.set()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=_MAX_HEAD_BYTES)
        try:
            await self._converse(reader, writer, conn)
        except (TimeoutError, OSError):
            pass  # the peer went away or idled out: nothing to answer
        finally:
            del self._open[task]
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _converse(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: h11.Connection
    ) -> None:
        """Requests one after another on a connection until either side closes it."""
        while True:
            try:
                request = await _read_request(reader, conn)
            except h11.RemoteProtocolError as exc:
                if conn.our_state is h11.SEND_RESPONSE or conn.our_state is h11.IDLE:
                    with contextlib.suppress(h11.LocalProtocolError):
                        status, payload = _error(exc.error_status_hint, f"bad request: {exc}")
                        await _send(writer, conn, status, payload)
                return
            except _HttpError as exc:  # body too large: answer, then drop the connection
                await _send(writer, conn, *_error(exc.status, str(exc)))
                return
            if request is None:
                return
            method, path, body = request
            await _send(writer, conn, *await self.app.handle(method, path, body))
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return  # Connection: close, or a request h11 cannot reuse the connection after
            conn.start_next_cycle()


async def _next_event(reader: asyncio.StreamReader, conn: h11.Connection) -> Any:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        data = await asyncio.wait_for(reader.read(_READ_BYTES), IDLE_TIMEOUT_S)
        conn.receive_data(data)  # b"" is the peer's end of stream


async def _read_request(
    reader: asyncio.StreamReader, conn: h11.Connection
) -> tuple[str, str, bytes] | None:
    """The next (method, path, body), or None when the peer closed between requests."""
    event = await _next_event(reader, conn)
    if isinstance(event, h11.ConnectionClosed):
        return None
    if not isinstance(event, h11.Request):
        raise h11.RemoteProtocolError(f"expected a request, got {type(event).__name__}")
    chunks: list[bytes] = []
    size = 0
    while not isinstance(part := await _next_event(reader, conn), h11.EndOfMessage):
        if isinstance(part, h11.ConnectionClosed):
            return None
        size += len(part.data)
        if size > _MAX_BODY_BYTES:
            raise _HttpError(413, f"body larger than {_MAX_BODY_BYTES} bytes")
        chunks.append(bytes(part.data))
    target = event.target.split(b"?", 1)[0].decode("ascii", "replace")
    return event.method.decode("ascii", "replace"), unquote(target), b"".join(chunks)


async def _send(
    writer: asyncio.StreamWriter, conn: h11.Connection, status: int, payload: object
) -> None:
    body, headers = b"", []  # a 204 has no body and so no body headers
    if status != 204:
        body = msgspec.json.encode(payload)
        headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    reason = HTTPStatus(status).phrase.encode() if status in _KNOWN_STATUSES else b""
    response = h11.Response(status_code=status, headers=headers, reason=reason)
    out = conn.send(response) or b""
    if body:
        out += conn.send(h11.Data(data=body)) or b""
    out += conn.send(h11.EndOfMessage()) or b""
    writer.write(out)
    await writer.drain()


def serve_control(
    registry: ProxyRegistry, host: str, port: int
) -> tuple[ControlServer, socket.socket]:
    """Bind the control API (loopback only, else ProxyError) and return the unstarted server.

    Run it with ``asyncio.create_task(server.serve(sockets=[sock]))``; stop it with
    :func:`stop_control`.
    """
    check_address(host, "control address", loopback_only=True)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise ProxyError(f"control address {host}:{port}: cannot bind ({exc})") from None
    return ControlServer(ControlApp(registry)), sock


async def stop_control(server: ControlServer, task: asyncio.Task[None]) -> None:
    """Stop a running control server: no new connections, open ones closed (bounded)."""
    server.shutdown()
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=3.0)
