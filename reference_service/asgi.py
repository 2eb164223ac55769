"""Minimal ASGI plumbing: read a bounded body, send a complete response.

Hand-written instead of Starlette's Request/Response because the budget is 2,500 requests/s per
core (400 us per request, of which uvicorn itself takes about 150 us); a framework's request object,
middleware stack and routing cost tens of microseconds per request that buy nothing here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, NamedTuple

from reference_service.schema import RequestError

__all__ = [
    "BODY_RECEIVED",
    "JSON",
    "Receive",
    "Reply",
    "Scope",
    "Send",
    "content_length",
    "is_json",
    "read_body",
    "send_reply",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON: Final = b"application/json"
#: Scope key the server protocol (:mod:`reference_service.connections`) sets once the request's
#: whole body has been received: ``receive()`` then answers without waiting, so the app can skip
#: the body deadline (a timer and a cancellation scope per request). Absent means "not known".
BODY_RECEIVED: Final = "slo.body_received"


class Reply(NamedTuple):
    """A complete response: status, body, content type and extra headers."""

    status: int
    body: bytes
    content_type: bytes = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


def header(scope: Scope, name: bytes) -> bytes | None:
    """First value of a request header (names are lower-case in ASGI)."""
    for k, v in scope["headers"]:
        if k == name:
            return bytes(v)
    return None


def is_json(scope: Scope) -> bool:
    """True when the content type is application/json (parameters such as charset allowed)."""
    ct = header(scope, b"content-type")
    if ct is None:
        return False
    return ct.split(b";", 1)[0].strip().lower() == JSON


def content_length(scope: Scope) -> int | None:
    """Declared body length, or None when absent or unparsable (chunked)."""
    raw = header(scope, b"content-length")
    if raw is None or not raw.isdigit():
        return None
    return int(raw)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refusing (413) as soon as it is known to exceed ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading anything; a chunked body
    is refused as soon as the bytes received pass the limit.
    """
    declared = content_length(scope)
    if declared is not None and declared > limit:
        raise RequestError(413, f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise RequestError(400, "client disconnected before sending the body")
        chunk = msg.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"request body exceeds {limit} bytes")
            chunks.append(chunk)
        if not msg.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_reply(send: Send, reply: Reply, request_id: bytes | None = None) -> None:
    """Send ``reply`` as one start + one body message."""
    headers = [
        (b"content-type", reply.content_type),
        (b"content-length", str(len(reply.body)).encode("ascii")),
    ]
    if request_id is not None:
        headers.append((b"x-request-id", request_id))
    headers.extend(reply.headers)
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body, "more_body": False})
