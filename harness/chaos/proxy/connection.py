"""One proxied TCP connection: two links, the per-connection draws, the HTTP fault's decisions.

A connection owns two :class:`~harness.chaos.proxy.link.Link` objects (client to server is
``upstream``, server to client ``downstream``) and a :class:`random.Random` seeded from the
proxy's seed, the proxy's name and the connection's serial number, so with a fixed seed the same
connection draws the same toxicity outcomes, jitter and HTTP decisions run after run.

Runtime changes: the proxy calls :meth:`Connection.refresh` on every open connection when a
toxic is added, changed or removed; nothing is closed, queued bytes keep their order.

HTTP proxies (protocol ``http``) frame both directions (:mod:`~harness.chaos.proxy.framing`).
With an ``http`` toxic, each request is decided when its head arrives: excluded path -> passes;
else it is delayed by ``average_delay +/- delay_variation`` (uniform, as xk6-disruptor) and, with
probability ``error_rate``, *aborted*: its bytes never reach the server and the client gets
``error_code`` with ``error_body`` on the same keep-alive connection. ``slots`` keeps one entry
per request in order (None = forwarded, else the injected response), so an injected response is
written only after the responses of every earlier forwarded request (pipelining stays correct).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Final, cast

from harness.chaos.proxy.framing import Framer, Head, Kind
from harness.chaos.proxy.link import Action, Link, LinkToxics
from harness.chaos.proxy.model import (
    BandwidthAttrs,
    Distribution,
    HttpAttrs,
    LatencyAttrs,
    LimitDataAttrs,
    Protocol,
    ResetPeerAttrs,
    SlicerAttrs,
    SlowCloseAttrs,
    Stream,
    TimeoutAttrs,
    Toxic,
)
from harness.chaos.proxy.sampling import sample_delay_ms

if TYPE_CHECKING:
    from harness.chaos.proxy.runtime import ProxyRuntime

__all__ = ["ClientSide", "Connection", "ResponseSlot", "link_toxics"]

_LINGER_RST: Final = struct.pack("ii", 1, 0)


@dataclass(slots=True)
class ResponseSlot:
    """The response of an aborted request, sent when ``ready`` and every earlier one is out."""

    response: bytes
    close: bool
    ready: bool = False


def link_toxics(chosen: list[Toxic]) -> LinkToxics:
    """Fold the toxics that apply to one direction into what its link does."""
    attrs = [t.attrs for t in chosen]
    rates = [a.rate_kb_s for a in attrs if isinstance(a, BandwidthAttrs)]
    limits = [a.limit_bytes for a in attrs if isinstance(a, LimitDataAttrs)]
    return LinkToxics(
        latency=tuple(a for a in attrs if isinstance(a, LatencyAttrs)),
        bandwidth_kb_s=min(rates) if rates else None,
        slow_close_ms=sum(a.delay_ms for a in attrs if isinstance(a, SlowCloseAttrs)),
        timeout=next((a for a in attrs if isinstance(a, TimeoutAttrs)), None),
        slicer=next((a for a in attrs if isinstance(a, SlicerAttrs)), None),
        limit_bytes=min(limits) if limits else None,
        http=next((a for a in attrs if isinstance(a, HttpAttrs)), None),
    )


def _render_response(http: HttpAttrs, close: bool) -> bytes:
    body = http.error_body.encode()
    try:
        reason = HTTPStatus(http.error_code).phrase
    except ValueError:
        reason = "Fault"
    head = (
        f"HTTP/1.1 {http.error_code} {reason}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "X-Fault-Injected: slo-harness\r\n" + ("Connection: close\r\n" if close else "") + "\r\n"
    )
    return head.encode() + body


class Connection:
    """See the module docstring."""

    __slots__ = (
        "_cur_hold_ns",
        "_cur_plain",
        "_cur_slot",
        "_draws",
        "_early",
        "_lost",
        "_timers",
        "client",
        "closed",
        "down",
        "proxy",
        "req_framer",
        "resp_framer",
        "rng",
        "server",
        "slots",
        "up",
    )

    def __init__(self, proxy: ProxyRuntime, serial: int, client: asyncio.Transport) -> None:
        self.proxy = proxy
        self.rng = random.Random(f"{proxy.seed}:{proxy.name}:{serial}")
        self.client = client
        self.server: asyncio.Transport | None = None
        self.up = Link(self, Stream.UPSTREAM, self.rng, src=client)
        self.down = Link(self, Stream.DOWNSTREAM, self.rng, dst=client)
        self.closed = False
        self._lost = 0  # sides whose connection_lost ran
        self._early: list[bytes] = []  # client bytes that came before the upstream connected
        self._draws: dict[tuple[str, float], bool] = {}
        self._timers: dict[tuple[str, str, str], asyncio.TimerHandle] = {}
        self.slots: deque[ResponseSlot | None] = deque()
        self._cur_plain = True
        self._cur_slot: ResponseSlot | None = None
        self._cur_hold_ns = 0
        if proxy.protocol is Protocol.HTTP:
            methods: deque[bytes] = deque()
            self.req_framer: Framer | None = Framer(Kind.REQUEST, methods)
            self.resp_framer: Framer | None = Framer(Kind.RESPONSE, methods)
        else:
            self.req_framer = self.resp_framer = None

    # -- life -----------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect to the upstream, then start reading the client (it was paused at accept)."""
        loop = asyncio.get_running_loop()
        host, port = self.proxy.upstream
        try:
            transport, _ = await loop.create_connection(lambda: _ServerSide(self), host, port)
        except OSError:
            self.proxy.stats.upstream_errors += 1
            self.close()
            return
        if self.closed:
            transport.close()
            return
        self.server = transport
        self.up.dst = transport
        self.down.src = transport
        self.refresh()
        early, self._early = self._early, []
        for data in early:
            self.from_client(data)
        self.client.resume_reading()

    def refresh(self) -> None:
        """Re-read the proxy's toxics (runtime change); draw toxicity for new ones."""
        if self.server is None:
            return
        wanted: set[tuple[str, str, str]] = set()
        for stream, link in ((Stream.UPSTREAM, self.up), (Stream.DOWNSTREAM, self.down)):
            chosen = [t for t in self.proxy.toxics if t.stream is stream and self._drawn(t)]
            link.set_toxics(link_toxics(chosen))
            for toxic in chosen:
                if self._arm_timer(toxic):
                    wanted.add(_timer_key(toxic))
        for key in list(self._timers):
            if key not in wanted:
                self._timers.pop(key).cancel()

    def close(self) -> None:
        """Close both sides gracefully (buffered bytes are still sent)."""
        if self.closed:
            return
        self.closed = True
        self._stop()
        for transport in (self.client, self.server):
            if transport is not None:
                transport.close()

    def reset(self) -> None:
        """Abort both sides with a TCP RST (SO_LINGER 0), as Toxiproxy's reset_peer."""
        if self.closed:
            return
        self.closed = True
        self._stop()
        for transport in (self.client, self.server):
            if transport is None:
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            transport.abort()

    def link_eof(self) -> None:
        """A link passed its EOF on: close when both did, or when a side is already gone."""
        if (self.up.eof and self.down.eof) or self._lost:
            self.close()

    def side_lost(self, link_from_side: Link, exc: Exception | None) -> None:
        """One socket is gone: pass a reset on at once, a close after what is queued."""
        self._lost += 1
        if self._lost >= 2 or self.server is None:
            self.closed = True
            self._stop()
            self.proxy.untrack(self)
            return
        if self.closed:
            return
        if exc is not None:
            self.reset()
        elif not link_from_side.eof:
            link_from_side.feed_eof()
        else:
            self.close()

    def _stop(self) -> None:
        self.up.stop()
        self.down.stop()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # -- toxicity and timers ----------------------------------------------------------------
    def _drawn(self, toxic: Toxic) -> bool:
        key = (toxic.name, toxic.toxicity)
        hit = self._draws.get(key)
        if hit is None:
            hit = self._draws[key] = toxic.toxicity >= 1.0 or self.rng.random() < toxic.toxicity
        return hit

    def _arm_timer(self, toxic: Toxic) -> bool:
        attrs = toxic.attrs
        if isinstance(attrs, ResetPeerAttrs):
            delay_ms, action = attrs.timeout_ms, self.reset
        elif isinstance(attrs, TimeoutAttrs) and attrs.timeout_ms > 0:
            delay_ms, action = attrs.timeout_ms, self.close
        else:
            return False
        key = _timer_key(toxic)
        if key not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(delay_ms / 1000.0, action)
        return True

    # -- data ---------------------------------------------------------------------------------
    def from_client(self, data: bytes) -> None:
        """Client bytes: straight through, or request by request when HTTP is framed."""
        if self.server is None:  # uvloop may deliver before the pause at accept takes effect
            self._early.append(data)
            self.client.pause_reading()
            return
        framer = self.req_framer
        if framer is None:
            self.up.write(data)
            return
        up = self.up
        for chunk, head, end in framer.feed(data):
            if head is not None:
                self._start_request(head, up.toxics.http)
            if self._cur_plain:
                up.write(chunk)
            else:
                action = Action.DROP if self._cur_slot is not None else Action.FORWARD
                up.enqueue(chunk, hold_until_ns=self._cur_hold_ns, action=action)
            if end:
                if self._cur_slot is not None:
                    up.enqueue(
                        b"",
                        hold_until_ns=self._cur_hold_ns,
                        action=Action.INJECT,
                        slot=self._cur_slot,
                    )
                self._cur_plain, self._cur_slot, self._cur_hold_ns = True, None, 0

    def from_server(self, data: bytes) -> None:
        """Server bytes: straight through; HTTP responses are counted to release injected ones."""
        framer = self.resp_framer
        if framer is None:
            self.down.write(data)
            return
        for chunk, _head, end in framer.feed(data):
            self.down.write(chunk)
            if end:
                if self.slots and self.slots[0] is None:
                    self.slots.popleft()
                self._flush_slots()

    def inject_ready(self, slot: ResponseSlot | None) -> None:
        """An aborted request's delay is over: its response may go out (in order)."""
        if slot is not None:
            slot.ready = True
            self._flush_slots()

    def _flush_slots(self) -> None:
        slots = self.slots
        while slots and slots[0] is not None and slots[0].ready:
            slot = slots.popleft()
            assert slot is not None
            self.down.write(slot.response)
            if slot.close:
                self.down.feed_eof()

    def _start_request(self, head: Head, http: HttpAttrs | None) -> None:
        stats = self.proxy.stats
        stats.requests_total += 1
        if http is None or head.path.decode("latin-1") in http.exclude:
            self.slots.append(None)
            return
        delay_ms = sample_delay_ms(
            self.rng, http.average_delay_ms, http.delay_variation_ms, Distribution.UNIFORM
        )
        abort = http.error_rate > 0.0 and self.rng.random() < http.error_rate
        if delay_ms > 0.0:
            stats.requests_delayed += 1
            self._cur_hold_ns = time.monotonic_ns() + round(delay_ms * 1e6)
        if abort:
            stats.requests_aborted += 1
            self._cur_slot = ResponseSlot(_render_response(http, head.close), head.close)
        self.slots.append(self._cur_slot)
        self._cur_plain = not abort and delay_ms <= 0.0


def _timer_key(toxic: Toxic) -> tuple[str, str, str]:
    return (toxic.stream.value, toxic.name, repr(toxic.attrs))


# -- protocols ----------------------------------------------------------------------------------
class ClientSide(asyncio.Protocol):
    """The accepted socket; creates its :class:`Connection`."""

    __slots__ = ("conn", "proxy")

    def __init__(self, proxy: ProxyRuntime) -> None:
        self.proxy = proxy
        self.conn: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = cast(asyncio.Transport, transport)  # uvloop's are not asyncio subclasses
        client.pause_reading()  # until the upstream is connected
        self.conn = self.proxy.track(client)
        asyncio.get_running_loop().create_task(self.conn.open())

    def data_received(self, data: bytes) -> None:
        self.conn.from_client(data)  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        self.conn.up.feed_eof()  # type: ignore[union-attr]
        return True  # keep our sending half open: the server may still answer

    def connection_lost(self, exc: Exception | None) -> None:
        if self.conn is not None:
            self.conn.side_lost(self.conn.up, exc)

    def pause_writing(self) -> None:
        self.conn.down.dst_paused(True)  # type: ignore[union-attr]

    def resume_writing(self) -> None:
        self.conn.down.dst_paused(False)  # type: ignore[union-attr]


class _ServerSide(asyncio.Protocol):
    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        self.conn.from_server(data)

    def eof_received(self) -> bool:
        self.conn.down.feed_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.side_lost(self.conn.down, exc)

    def pause_writing(self) -> None:
        self.conn.up.dst_paused(True)

    def resume_writing(self) -> None:
        self.conn.up.dst_paused(False)
