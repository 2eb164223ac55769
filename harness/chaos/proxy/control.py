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

Why uvicorn and not a hand-written server: the control API is off the hot path, and uvicorn is
already a dependency (the reference service). It runs as a task in the proxy's own event loop
(``capture_signals`` is switched off: the proxy process owns its signals), so a change is applied
between two chunks of proxied data, never concurrently with them.

The bind rule: :func:`serve_control` refuses any address but loopback. The API can open
listeners and reset connections; nothing outside this machine may reach it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any, Final

import msgspec
import uvicorn

from harness.chaos.proxy.model import check_address, parse_proxy, parse_toxic, toxic_to_json
from harness.chaos.proxy.runtime import ProxyRegistry, ProxyRuntime
from harness.errors import ProxyError

__all__ = ["API_VERSION", "ControlApp", "ControlServer", "serve_control", "stop_control"]

API_VERSION: Final = "slo-harness-proxy/1"
_MAX_BODY_BYTES: Final = 64 * 1024

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlApp:
    """The ASGI application over a :class:`ProxyRegistry`."""

    def __init__(self, registry: ProxyRegistry) -> None:
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            body = await _read_body(receive)
            status, payload = await self._route(scope["method"], scope["path"], body)
        except _HttpError as exc:
            status, payload = exc.status, {"error": str(exc), "status": exc.status}
        except ProxyError as exc:
            status, payload = 400, {"error": str(exc), "status": 400}
        await _respond(send, status, payload)

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


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY_BYTES:
            raise _HttpError(413, f"body larger than {_MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, payload: object) -> None:
    body = b"" if status == 204 else msgspec.json.encode(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ControlServer(uvicorn.Server):
    """uvicorn without its signal capture: the proxy process handles SIGTERM/SIGINT itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_control(
    registry: ProxyRegistry, host: str, port: int
) -> tuple[ControlServer, socket.socket]:
    """Bind the control API (loopback only, else ProxyError) and return the unstarted server.

    Run it with ``asyncio.create_task(server.serve(sockets=[sock]))``; stop it with
    ``server.should_exit = True``.
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
    config = uvicorn.Config(
        ControlApp(registry),
        lifespan="off",
        log_level="warning",
        access_log=False,
        loop="none",
        timeout_graceful_shutdown=1,
    )
    return ControlServer(config), sock


async def stop_control(server: ControlServer, task: asyncio.Task[None]) -> None:
    """Stop a running control server (bounded)."""
    server.should_exit = True
    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=3.0)
