"""The lean client's transport under a request's deadline: how an exchange fails, opening a
connection (TCP connect, then TLS), sending, and the time left.

Split from :mod:`harness.load.http` (which re-exports the failure classes), so the HTTP framing
and the socket-level work each stay a small module. Everything here keeps one rule: no call
blocks past the request's deadline. Connecting and the TLS handshake run under a socket timeout
from the time left (once per connection, so its gevent ``Timeout`` costs nothing that matters);
the round trip's waits are guarded either the same way (plain blocking sockets) or, under
gevent, by the connection's :class:`~harness.load.deadline.Deadline` (no socket timeout at all).
"""

from __future__ import annotations

import socket
import ssl
import time
from typing import Final

from harness.load.deadline import Deadline, watchdog
from harness.load.tlsio import Stream, TlsStream

__all__ = [
    "ClientError",
    "ConnectFailed",
    "ConnectionLost",
    "ProtocolError",
    "RequestTimeout",
    "open_stream",
    "remaining_s",
    "send_all",
]

_MAX_SENDS: Final = 16 * 1024 * 1024  # bound on a partial send's passes (each moves >= 1 byte)


class ClientError(Exception):
    """A request that did not produce a complete HTTP response."""


class ConnectFailed(ClientError):
    """The TCP connection (or its TLS handshake) could not be established."""


class RequestTimeout(ClientError):
    """No complete response before the deadline."""


class ConnectionLost(ClientError):
    """The server closed or reset the connection before the response was complete."""


class ProtocolError(ClientError):
    """The bytes received are not a valid HTTP/1.1 response."""


def open_stream(
    address: tuple[str, int],
    deadline_ns: int,
    *,
    connect_timeout_s: float,
    ssl_context: ssl.SSLContext | None,
    server_name: str,
    deadline: Deadline | None,
) -> tuple[Stream, Deadline | None]:
    """A connected stream (TLS when ``ssl_context``) and the Deadline that guards its round
    trips: ``deadline`` reused when it belongs to this hub's watchdog, a new one, or None on
    plain blocking sockets (whose round trips then run under socket timeouts).

    Raises RequestTimeout (connect or handshake past the deadline) or ConnectFailed.
    """
    timeout = min(connect_timeout_s, remaining_s(deadline_ns))
    host, port = address
    try:
        sock = socket.create_connection(address, timeout=timeout)
    except TimeoutError:
        raise RequestTimeout("connect timed out") from None
    except OSError as exc:
        raise ConnectFailed(f"connect to {host}:{port} failed: {exc}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream: Stream = sock
    if ssl_context is not None:
        stream = _handshake(sock, address, ssl_context, server_name, deadline_ns)
    dog = watchdog()
    if dog is None:
        return stream, None
    stream.settimeout(None)  # the watchdog guards the waits: no gevent Timeout per wait
    return stream, deadline if deadline is not None and deadline.watchdog is dog else Deadline(dog)


def _handshake(
    sock: socket.socket,
    address: tuple[str, int],
    context: ssl.SSLContext,
    server_name: str,
    deadline_ns: int,
) -> TlsStream:
    """Wrap a fresh TCP connection in TLS and complete the handshake before the deadline."""
    try:
        sock.settimeout(remaining_s(deadline_ns))
        stream = TlsStream(sock, context, server_name)
        stream.handshake()
        return stream
    except TimeoutError:
        sock.close()
        raise RequestTimeout("TLS handshake timed out") from None
    except RequestTimeout:
        sock.close()
        raise
    except OSError as exc:  # ssl.SSLError (verification, alerts) and resets
        sock.close()
        raise ConnectFailed(f"TLS handshake with {address[0]}:{address[1]} failed: {exc}") from None


def send_all(sock: Stream, data: bytes, deadline_ns: int | None) -> None:
    """``sock.sendall(data)`` without its per-call overhead (the socket's timeout is already set
    from the deadline, or ``deadline_ns`` is None: a Deadline guards the waits): a request is far
    below the socket's send buffer, so one ``send`` takes it all, where gevent's ``sendall``
    first asks the kernel for ``SO_SNDBUF`` (one more syscall per request) and slices a
    memoryview. A partial send (a full buffer, a body of megabytes) continues where it stopped,
    each further ``send`` under the time left until the deadline."""
    sent = sock.send(data)
    total = len(data)
    if sent >= total:
        return
    view = memoryview(data)
    for _ in range(_MAX_SENDS):  # bounded; every pass waits until the socket is writable
        if deadline_ns is not None:
            sock.settimeout(remaining_s(deadline_ns))
        sent += sock.send(view[sent:])
        if sent >= total:
            return
    raise ConnectionLost("the request could not be sent")  # pragma: no cover


def remaining_s(deadline_ns: int) -> float:
    """Seconds left until ``deadline_ns`` (``time.monotonic_ns``); RequestTimeout if none."""
    remaining = (deadline_ns - time.monotonic_ns()) / 1e9
    if remaining <= 0:
        raise RequestTimeout("deadline passed")
    return remaining
