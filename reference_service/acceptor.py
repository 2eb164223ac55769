"""Prompt accept: every pending connection is taken off the listen queue each time the loop looks.

Why this exists (issue 10, hole 10): libuv, under uvloop, accepts **one** connection per event-loop
iteration since libuv 1.45 (libuv PR #3696, "unix: don't accept() connections in a loop"). A
worker at its CPU limit runs long iterations (every ready request callback of the iteration runs
before the next poll: tens of milliseconds at 3x capacity), so it accepted about 20 connections a
second while clients opened 200: the kernel's accept queue grew to 370 connections (``ss -ltn``
Recv-Q), each holding a request that waited seconds before the service even saw it, while
admission was shedding in microseconds what it did see. strace showed one ``accept4`` per
iteration and never ``EAGAIN``; the listen queue did not overflow (``ListenOverflows`` 0, backlog
2,048 under ``somaxconn`` 4,096), so clients saw a slow answer, not a SYN retransmission.

:class:`PromptAcceptor` replaces the loop's server for a listening socket: a reader callback on
the socket accepts until ``EAGAIN`` (at most :data:`BATCH` per wake-up, so one worker of several
does not take every connection of a burst) and hands each socket to the loop as an accepted
connection with uvicorn's protocol. New connections are then parsed in the next iteration, and
a request the worker cannot take is refused by admission at once (503 + Retry-After) instead of
waiting in the kernel. Descriptor exhaustion (``EMFILE``/``ENFILE``) pauses accepting for
:data:`EMFILE_PAUSE_S` instead of spinning on a readable socket; the connection cap
(:mod:`reference_service.connections`) keeps a worker below that limit in normal operation.

It presents what uvicorn's ``Server`` uses of an ``asyncio.Server``: ``sockets``, ``close()``,
``wait_closed()``. It works on uvloop and on the standard asyncio loop alike.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable
from typing import Final

__all__ = ["BATCH", "EMFILE_PAUSE_S", "PromptAcceptor"]

#: Connections accepted per wake-up at most (then the loop runs its other callbacks first).
BATCH: Final = 128
#: How long accepting pauses when the process or system is out of file descriptors (s).
EMFILE_PAUSE_S: Final = 0.05
_RESOURCE_ERRNOS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class PromptAcceptor:
    """Accepts every pending connection of ``sock`` whenever it is readable."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        backlog: int,
    ) -> None:
        self._loop = loop
        self._sock = sock
        self._factory = protocol_factory
        self._closed = False
        self._pending: set[asyncio.Task[object]] = set()
        self.accepted_total = 0
        sock.listen(backlog)  # also for a socket the supervisor bound: sets our backlog
        sock.setblocking(False)
        self.sockets: tuple[socket.socket, ...] = (sock,)

    def start(self) -> None:
        """Begin accepting."""
        self._loop.add_reader(self._sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        for _ in range(BATCH):
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the client gave up while queued: nothing to serve
            except OSError as exc:
                if exc.errno in _RESOURCE_ERRNOS:
                    self._pause()
                    return
                raise
            self._adopt(conn)

    def _adopt(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            conn.close()  # reset before we got to it
            return
        self.accepted_total += 1
        task: asyncio.Task[object] = self._loop.create_task(
            self._loop.connect_accepted_socket(self._factory, sock=conn)
        )
        self._pending.add(task)
        task.add_done_callback(self._adopted)

    def _adopted(self, task: asyncio.Task[object]) -> None:
        self._pending.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a connection reset before it opened is not an error

    def _pause(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._loop.call_later(EMFILE_PAUSE_S, self._resume)

    def _resume(self) -> None:
        if not self._closed:
            self.start()

    def close(self) -> None:
        """Stop accepting and close the listening socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    async def wait_closed(self) -> None:
        """Wait for connections being set up at close time."""
        if self._pending:
            await asyncio.wait(self._pending, timeout=1.0)
