"""Connection hygiene: deadlines for idle and slow-header connections, and a connection cap.

uvicorn arms its keep-alive timer only after a first response, so a client that connects and
sends nothing (or sends headers one byte a minute) holds a socket and a file descriptor forever;
enough of them and ``accept`` fails with EMFILE, which clients see as connections that open and
get no reply. :class:`GuardedProtocol` (uvicorn's httptools protocol plus two rules) closes that:

* **header deadline**: a connection must complete a request's headers within
  ``header_timeout_s`` of opening, or of its previous response; otherwise it is closed. The
  deadline is armed once per request and not pushed back by trickling bytes (a slowloris sends a
  byte at a time precisely to reset per-read timers). Slow *bodies* are the app's business: it
  reads the body under ``body_timeout_s`` before admission (:mod:`reference_service.app`).
* **connection cap**: at most ``max_connections`` per worker, by default the soft
  ``RLIMIT_NOFILE`` minus a reserve for the audit trail, logs and the model. A connection beyond
  the cap first evicts the least recently active connection that has no request in progress
  (idle keep-alive or still sending headers); when every connection is busy, the newcomer gets
  an immediate ``503`` with ``Retry-After`` and ``Connection: close``. So descriptor exhaustion
  turns into fast refusals, and abusive idle connections cannot lock well-behaved clients out.

* **refusal before the task**: when admission is already full, a scoring request is answered
  503 + ``Retry-After`` from :meth:`GuardedProtocol._start_asgi_task`, in the callback that parsed
  its headers (the app's ``refuse_at_once``), without creating the request's task: through the
  app, the 503 ran as a task behind every handler already queued in that loop iteration (at 3x
  capacity, each of them a few milliseconds of CPU). Its body is then discarded as it arrives
  (uvicorn ignores the body of a request whose response is complete) and the connection stays
  open for the next request.

Responses go out in **one write**: uvicorn writes a response's head when the app sends
``http.response.start`` and its body on ``http.response.body``, two ``send`` syscalls and two TCP
segments per answer (on loopback the sender's core also runs the receiver's TCP input for each).
:class:`OneWriteCycle` holds the start message until the next message and lets uvicorn render
both into one buffer (its checks and its keep-alive and length rules unchanged).

The protocol also marks a request's scope with :data:`~reference_service.asgi.BODY_RECEIVED`
once its body is complete (the usual case: a small request arrives in one read, before the app's
task first runs), so the app arms its body deadline only for bodies still on their way.

**No timer per request.** uvicorn arms a keep-alive timer after every response and cancels it
when the next request's first bytes arrive; the header deadline was one more timer armed and
cancelled per request (together about 5 us of the event loop per request, measured). Here both
are deadlines kept as two floats per connection, checked by one timer per connection: when it
fires and the connection has moved on (a new response re-armed the deadlines), it re-arms itself
for the nearest one. The rules are uvicorn's and the header deadline's as before: closed when no
byte arrived within ``timeout_keep_alive`` of a response, or no complete headers within
``header_timeout_s`` of opening or of a response.

Both numbers come from the app's :class:`~reference_service.config.ServiceConfig` (the protocol
reads it from the ASGI app uvicorn loaded), so the rules hold in every worker process.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any, Final

from uvicorn._types import ASGISendEvent, HTTPResponseStartEvent
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from reference_service.asgi import BODY_RECEIVED

__all__ = ["FD_RESERVE", "GuardedProtocol", "OneWriteCycle", "connection_cap"]

#: Descriptors kept free for everything that is not a client connection: audit segments and their
#: directory, logs, the model, the listening socket, Redis, Prometheus files, epoll, pipes.
FD_RESERVE: Final = 64
_REFUSAL_BODY: Final = b'{"error":"too many open connections"}'
_REFUSAL: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n"
    b"retry-after: 1\r\nconnection: close\r\n\r\n" + _REFUSAL_BODY
)


def _overloaded(body: bytes, keep_alive: bool) -> bytes:
    """A complete HTTP/1.1 503 response with ``body`` (JSON), Retry-After, and Connection: close
    unless the connection stays open."""
    return (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"content-length: "
        + str(len(body)).encode()
        + b"\r\nretry-after: 1\r\n"
        + (b"" if keep_alive else b"connection: close\r\n")
        + b"\r\n"
        + body
    )


def connection_cap(configured: int | None) -> int:
    """The per-worker connection limit: ``configured``, never above what the fd limit allows."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    by_fds = max(2, soft - FD_RESERVE) if soft != resource.RLIM_INFINITY else 1 << 20
    return min(configured, by_fds) if configured is not None else by_fds


class _HeldWrites:
    """Stands in for the transport while uvicorn renders one response: keeps the writes, sends
    them as one (before a close, and when the response's messages are handled)."""

    __slots__ = ("_parts", "_real")

    def __init__(self, real: asyncio.Transport) -> None:
        self._real = real
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def flush(self) -> None:
        if self._parts:
            data = b"".join(self._parts)
            self._parts.clear()
            self._real.write(data)

    def close(self) -> None:
        self.flush()
        self._real.close()

    def is_closing(self) -> bool:
        return self._real.is_closing()


def _render(
    cycle: RequestResponseCycle, start: HTTPResponseStartEvent, body: bytes
) -> tuple[bytes, bool] | None:
    """The bytes uvicorn's ``send`` writes for ``start`` + one final ``body`` (and whether the
    head says ``connection: close``), or None when the response is not the plain case (chunked,
    HEAD, 204/304, a length that does not match, a header uvicorn would refuse): uvicorn's own
    path then handles it, with its errors. Same checks as uvicorn's, over the joined names and
    joined values: each of its header patterns is one character class, so it matches the
    concatenation exactly when it matches one of the parts (two searches instead of two per
    header)."""
    status = start["status"]
    if status in (204, 304) or cycle.scope["method"] == "HEAD" or cycle.access_log:
        return None
    headers = [*cycle.default_headers, *start.get("headers", ())]
    names = [name for name, _ in headers]
    if HEADER_RE.search(b"".join(names)) or HEADER_VALUE_RE.search(
        b"".join([value for _, value in headers])
    ):
        return None
    content = [STATUS_LINE[status]]
    length = -1
    close = False
    for name, value in headers:
        name = name.lower()
        if name == b"content-length":
            if length < 0:
                length = int(value.decode())
        elif name == b"transfer-encoding":
            return None
        elif name == b"connection":
            close = close or b"close" in [t.lower().strip() for t in value.split(b",")]
        content.extend((name, b": ", value, b"\r\n"))
    if length != len(body):
        return None
    if not cycle.keep_alive and not close:
        content.append(b"connection: close\r\n")
    content.append(b"\r\n")
    content.append(body)
    return b"".join(content), close


class OneWriteCycle(RequestResponseCycle):
    """uvicorn's request/response cycle whose response head waits for the next message, so a
    response sent as start + body (every response of this service) is one ``transport.write``.

    The common case (a complete body with its content-length, no chunking) is rendered here in
    one pass (:func:`_render`): same bytes, same checks and the same state changes as uvicorn's
    two ``send`` calls, without rendering into a held transport. Anything else goes through
    uvicorn's ``send`` with the writes held and sent as one."""

    _start: HTTPResponseStartEvent | None = None

    async def send(self, message: ASGISendEvent) -> None:
        if self._start is None:
            if message["type"] == "http.response.start" and not self.response_started:
                self._start = message  # rendered together with the next message
                return
            await super().send(message)
            return
        start, self._start = self._start, None
        if (
            message["type"] == "http.response.body"
            and not message.get("more_body", False)
            and not self.flow.write_paused
            and not self.disconnected
        ):
            rendered = _render(self, start, message.get("body", b""))
            if rendered is not None:
                data, close = rendered
                self.response_started = True
                self.waiting_for_100_continue = False
                if close:
                    self.keep_alive = False
                self.transport.write(data)
                self.response_complete = True
                self.message_event.set()
                if not self.keep_alive:
                    self.transport.close()
                self.on_response()
                return
        real = self.transport
        held = _HeldWrites(real)
        self.transport = held  # type: ignore[assignment]  # write/close/is_closing is all it uses
        try:
            await super().send(start)
            await super().send(message)
        finally:
            self.transport = real
            held.flush()


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a per-worker connection cap."""

    _cap: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = getattr(self.app, "cfg", None)
        self._header_timeout_s: float = getattr(cfg, "header_timeout_s", 5.0)
        if GuardedProtocol._cap is None:
            GuardedProtocol._cap = connection_cap(getattr(cfg, "max_connections", None))
        # Deadlines on the loop's clock (``loop.time()``), 0.0 when not pending: the header
        # deadline (headers complete) and uvicorn's keep-alive (a first byte after a response).
        self._header_due = 0.0
        self._idle_due = 0.0
        self._timer: asyncio.TimerHandle | None = None  # at most one per connection
        self._timer_at = 0.0
        self.last_active = time.monotonic()
        self.in_request = False

    # -- connection cap -----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cap = GuardedProtocol._cap or 1
        if len(self.connections) > cap and not self._evict_one():
            self.transport.write(_REFUSAL)
            self.transport.close()
            return
        self._arm()

    def _evict_one(self) -> bool:
        """Close the least recently active connection with no request in progress."""
        victim: GuardedProtocol | None = None
        for conn in self.connections:
            if conn is self or not isinstance(conn, GuardedProtocol) or conn.in_request:
                continue
            if victim is None or conn.last_active < victim.last_active:
                victim = conn
        if victim is None:
            return False
        victim.transport.close()
        self.connections.discard(victim)
        return True

    # -- deadlines: header deadline and keep-alive, one lazy timer ----------------------------
    def _arm(self) -> None:
        """Headers due within ``header_timeout_s`` from now (on connect)."""
        self._header_due = self.loop.time() + self._header_timeout_s
        self._schedule(self._header_due)

    def _disarm(self) -> None:
        self._header_due = 0.0  # the timer stays; when it fires it finds nothing due

    def _schedule(self, due: float) -> None:
        """Make sure the timer fires no later than ``due``."""
        timer = self._timer
        if timer is not None:
            if self._timer_at <= due:
                return  # fires earlier and re-arms for what is then pending
            timer.cancel()
        self._timer_at = due
        self._timer = self.loop.call_at(due, self._expired)

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        header = 0.0 if self.in_request else self._header_due
        idle = self._idle_due
        # (the loop's clock has millisecond steps: a timer may fire just before its due time)
        if (header and now >= header - 0.001) or (idle and now >= idle - 0.001):
            self.transport.close()
            return
        due = min(header or idle, idle or header)
        if due:
            self._schedule(due)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        self._idle_due = 0.0  # a byte arrived: the keep-alive rule is satisfied
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self.in_request = True
        self._header_due = 0.0
        super().on_headers_complete()
        if type(self.cycle) is RequestResponseCycle:  # the cycle uvicorn just made: one write
            self.cycle.__class__ = OneWriteCycle

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.scope is not None:
            self.scope[BODY_RECEIVED] = True  # type: ignore[typeddict-unknown-key]

    def on_response_complete(self) -> None:
        """uvicorn's ``on_response_complete`` with its keep-alive timer replaced by the lazy
        deadline (the rest unchanged: count, resume reading, start a pipelined request)."""
        self.in_request = bool(self.pipeline)  # a pipelined request starts right away
        self.last_active = time.monotonic()
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        now = self.loop.time()
        self._idle_due = now + self.timeout_keep_alive
        self._header_due = now + self._header_timeout_s
        self._schedule(min(self._idle_due, self._header_due))

    # -- refusal before the task ----------------------------------------------------------------
    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        refuse = getattr(app, "refuse_at_once", None) if app is not service_unavailable else None
        body = refuse(cycle.scope, self.last_active) if refuse is not None else None
        if body is None:
            super()._start_asgi_task(cycle, app)
            return
        self.transport.write(_overloaded(body, cycle.keep_alive))
        cycle.response_started = cycle.response_complete = True  # uvicorn drops the body
        if not cycle.keep_alive:
            self.transport.close()
        cycle.on_response()

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_due = self._idle_due = 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)
