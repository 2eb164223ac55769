"""One direction of one proxied connection: the hot path, and the toxics when any apply.

The hot path is a single ``transport.write`` from ``data_received``: with no toxic on this
direction (and nothing queued), a chunk is written to the other socket before the event loop
does anything else, so no task, queue or timer is touched per chunk. Only when a toxic applies
(or bytes are still queued from one that was just removed, so order is kept) do chunks go into a
queue that one task drains, applying the toxics in a fixed order:

    timeout (drop) -> HTTP delay/abort decision (made when the head arrived) -> latency
    -> limit_data -> slicer -> bandwidth -> write;   slow_close delays the EOF

Latency holds each chunk until ``arrival + sample`` (not ``previous release + sample``), as
Toxiproxy: back-to-back chunks do not add up their delays. Every wait goes through
:func:`~harness.chaos.proxy.clock.sleep_until` (a timerfd: microseconds, not libuv's whole
milliseconds); times are ``time.monotonic_ns()``. Bandwidth paces writes on a virtual
clock at ``rate`` KB/s (1 KB = 1,000 bytes), in pieces of at most 100 ms worth. ``timeout`` and
``reset_peer`` act through timers that the connection arms when the toxic starts applying.

Backpressure: the source socket stops being read while more than :data:`HIGH_WATER_BYTES` are
queued here or the destination socket's write buffer is full, and resumes when both clear.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from harness.chaos.proxy.clock import sleep_until
from harness.chaos.proxy.model import (
    HttpAttrs,
    LatencyAttrs,
    SlicerAttrs,
    Stream,
    TimeoutAttrs,
)
from harness.chaos.proxy.sampling import sample_delay_ms

if TYPE_CHECKING:
    from harness.chaos.proxy.connection import Connection, ResponseSlot

__all__ = ["HIGH_WATER_BYTES", "Action", "Link", "LinkToxics"]

HIGH_WATER_BYTES: Final = 256 * 1024
LOW_WATER_BYTES: Final = 64 * 1024
_BW_SLICE_S: Final = 0.1  # bandwidth writes at most 100 ms worth at a time, as Toxiproxy
_PAUSE_QUEUE: Final = 1
_PAUSE_WRITE: Final = 2


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


class Action(enum.Enum):
    """What the drain task does with a queued item."""

    FORWARD = "forward"
    DROP = "drop"  # bytes of an aborted request: never reach the server
    INJECT = "inject"  # end of an aborted request: its response may be sent now
    EOF = "eof"


@dataclass(frozen=True, slots=True)
class LinkToxics:
    """The toxics in effect on one direction of one connection (toxicity already drawn)."""

    latency: tuple[LatencyAttrs, ...] = ()
    bandwidth_kb_s: float | None = None
    slow_close_ms: float = 0.0
    timeout: TimeoutAttrs | None = None
    slicer: SlicerAttrs | None = None
    limit_bytes: int | None = None
    http: HttpAttrs | None = None

    @property
    def empty(self) -> bool:
        return self == _NONE


_NONE: Final = LinkToxics()


@dataclass(slots=True)
class _Item:
    data: bytes
    arrived_ns: int  # time.monotonic_ns()
    hold_until_ns: int = 0
    action: Action = Action.FORWARD
    slot: ResponseSlot | None = None


@dataclass(slots=True)
class Link:
    """Bytes from ``src`` to ``dst`` for one connection; see the module docstring."""

    conn: Connection
    stream: Stream
    rng: random.Random
    src: asyncio.Transport | None = None
    dst: asyncio.Transport | None = None
    toxics: LinkToxics = _NONE
    fast: bool = True
    limit_sent_bytes: int = 0
    eof: bool = False  # EOF passed on to dst
    _items: deque[_Item] = field(default_factory=deque)
    _queued_bytes: int = 0
    _task: asyncio.Task[None] | None = None
    _paused: int = 0
    _bw_next_ns: int = 0

    # -- entry points (called from the protocols and the connection) -----------------------
    def write(self, data: bytes) -> None:
        """Pass ``data`` on now if nothing applies, else queue it (the hot path)."""
        if self.fast:
            self.dst.write(data)  # type: ignore[union-attr]
        else:
            self.enqueue(data)

    def enqueue(
        self,
        data: bytes,
        *,
        hold_until_ns: int = 0,
        action: Action = Action.FORWARD,
        slot: ResponseSlot | None = None,
    ) -> None:
        """Queue an item for the drain task (and start it if idle)."""
        self._items.append(_Item(data, time.monotonic_ns(), hold_until_ns, action, slot))
        self._queued_bytes += len(data)
        if self._queued_bytes > HIGH_WATER_BYTES:
            self._pause(_PAUSE_QUEUE, True)
        self.fast = False
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def feed_eof(self) -> None:
        """The source half-closed: pass the EOF on after everything queued (and slow_close)."""
        if self.fast and self.toxics.slow_close_ms == 0.0:
            self._pass_eof()
        else:
            self.enqueue(b"", action=Action.EOF)

    def set_toxics(self, toxics: LinkToxics) -> None:
        """Apply a new toxic set (runtime change): queued bytes drain first, in order."""
        if toxics.limit_bytes != self.toxics.limit_bytes:
            self.limit_sent_bytes = 0  # Toxiproxy counts from when the toxic starts
        self.toxics = toxics
        self.fast = toxics.empty and not self._items and self._task is None

    def dst_paused(self, paused: bool) -> None:
        """The destination's write buffer filled (or drained)."""
        self._pause(_PAUSE_WRITE, paused)

    def stop(self) -> None:
        """The connection is gone: drop the queue and the task."""
        self._items.clear()
        self._queued_bytes = 0
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # -- the drain task ---------------------------------------------------------------------
    async def _drain(self) -> None:
        try:
            while self._items:
                item = self._items[0]
                toxics = self.toxics
                if item.action is Action.EOF:
                    if toxics.slow_close_ms > 0.0:
                        await sleep_until(time.monotonic_ns() + _ns(toxics.slow_close_ms / 1e3))
                    self._pop()
                    self._pass_eof()
                    continue
                if toxics.timeout is not None:
                    self._pop()  # a timeout toxic swallows everything, as Toxiproxy
                    continue
                hold_ns = item.hold_until_ns
                if toxics.latency:
                    delay_ms = sum(
                        sample_delay_ms(self.rng, t.latency_ms, t.jitter_ms, t.distribution)
                        for t in toxics.latency
                    )
                    hold_ns = max(hold_ns, item.arrived_ns + _ns(delay_ms / 1e3))
                await sleep_until(hold_ns)
                self._pop()
                if item.action is Action.INJECT:
                    self.conn.inject_ready(item.slot)
                elif item.action is Action.FORWARD and item.data:
                    await self._emit(item.data, self.toxics)
        except Exception:  # a bug here must cost this connection, never the proxy's loop
            self.conn.reset()
        finally:
            self._task = None
            self.fast = self.toxics.empty and not self._items

    def _pop(self) -> None:
        item = self._items.popleft()
        self._queued_bytes -= len(item.data)
        if self._queued_bytes < LOW_WATER_BYTES:
            self._pause(_PAUSE_QUEUE, False)

    async def _emit(self, data: bytes, toxics: LinkToxics) -> None:
        if toxics.limit_bytes is not None:
            allowed = toxics.limit_bytes - self.limit_sent_bytes
            data = data[: max(allowed, 0)]
        for index, piece in enumerate(self._pieces(data, toxics)):
            if index and toxics.slicer is not None and toxics.slicer.delay_us > 0:
                await sleep_until(time.monotonic_ns() + _ns(toxics.slicer.delay_us / 1e6))
            if toxics.bandwidth_kb_s is not None:
                await self._pace(len(piece), toxics.bandwidth_kb_s)
            if self.dst is None or self.dst.is_closing():
                return
            self.dst.write(piece)
            self.limit_sent_bytes += len(piece)
        if toxics.limit_bytes is not None and self.limit_sent_bytes >= toxics.limit_bytes:
            self.conn.close()

    def _pieces(self, data: bytes, toxics: LinkToxics) -> list[bytes]:
        sizes: list[int] = []
        if toxics.slicer is not None:
            average = toxics.slicer.average_size_bytes
            variation = min(toxics.slicer.size_variation_bytes, average - 1)
            left = len(data)
            while left > 0:
                size = min(left, average + self.rng.randint(-variation, variation))
                sizes.append(size)
                left -= size
        else:
            sizes = [len(data)]
        if toxics.bandwidth_kb_s is not None:
            most = max(1, int(toxics.bandwidth_kb_s * 1000.0 * _BW_SLICE_S))
            sizes = [min(most, s - i) for s in sizes for i in range(0, s, most)]
        pieces: list[bytes] = []
        offset = 0
        for size in sizes:
            pieces.append(data[offset : offset + size])
            offset += size
        return pieces

    async def _pace(self, size_bytes: int, rate_kb_s: float) -> None:
        start_ns = max(time.monotonic_ns(), self._bw_next_ns)
        await sleep_until(start_ns)
        self._bw_next_ns = start_ns + _ns(size_bytes / (rate_kb_s * 1000.0))

    def _pass_eof(self) -> None:
        dst = self.dst
        if dst is not None and not dst.is_closing() and dst.can_write_eof():
            dst.write_eof()
        self.eof = True
        self.conn.link_eof()

    def _pause(self, reason: int, on: bool) -> None:
        before = self._paused
        self._paused = before | reason if on else before & ~reason
        src = self.src
        if src is None or src.is_closing() or bool(before) == bool(self._paused):
            return
        if self._paused:
            src.pause_reading()
        else:
            src.resume_reading()
