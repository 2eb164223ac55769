"""TLS for the lean client over memory BIOs: one socket read per readiness, not per record part.

Why not ``SSLContext.wrap_socket``: an ``SSLSocket`` reads through OpenSSL, whose record layer
(read-ahead off; Python has no switch for it) asks the kernel for a record's 5-byte header and
then for its body, so a small response costs two ``recv`` syscalls after the one that found
nothing (measured with ``strace -c``: about 3.2 reads per exchange against about 1 for plain
HTTP); gevent's ``SSLSocket.read`` adds an exception object per wait on top. Here the ciphertext
is read from the plain (cooperative) socket in one ``recv_into`` of up to 64 KB, fed to an
``ssl.MemoryBIO``, and decrypted by an ``SSLObject`` in memory; what it has to send (handshake
messages, records) is drained from the outgoing BIO with one ``send``. The TLS itself (versions,
ciphers, verification, SNI, ALPN, client certificates) is the same ``SSLContext``'s.

:class:`TlsStream` offers exactly the socket calls :class:`~harness.load.http.HttpConnection` makes
(``settimeout``, ``send``, ``recv_into``, ``recv``, ``close``) with the same semantics: blocking
calls block (under gevent: yield) within the socket's timeout and raise ``TimeoutError`` when it
passes (under gevent the socket has none: the connection's :class:`~harness.load.deadline.Deadline`
throws the ``TimeoutError`` into the wait); a clean or ragged EOF reads as 0 bytes; ``recv`` on a
socket with timeout 0 raises ``BlockingIOError`` or ``ssl.SSLWantReadError`` when no application
data is there (an idle connection's NewSessionTicket is consumed, not mistaken for data).

Invariant: every loop is bounded; the outgoing BIO is empty whenever a call returns.
"""

from __future__ import annotations

import socket
import ssl
from typing import Final, Protocol, cast

__all__ = ["Stream", "TlsStream"]

_CIPHERTEXT_BUFFER: Final = 64 * 1024
_MAX_STEPS: Final = 100_000  # handshake flights / reads per call; each step moves >= 1 byte


class Stream(Protocol):
    """The socket calls the client makes: a plain socket, or TLS over one (:class:`TlsStream`)."""

    def settimeout(self, value: float | None, /) -> None: ...
    def send(self, data: bytes | memoryview, /) -> int: ...
    def recv_into(self, buffer: memoryview, /) -> int: ...
    def recv(self, bufsize: int, flags: int = ..., /) -> bytes: ...
    def close(self) -> None: ...


class TlsStream:
    """A TLS client connection over a connected socket (see the module docstring)."""

    __slots__ = ("_incoming", "_obj", "_outgoing", "_raw", "_sock", "_view")

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_name: str) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_name)
        self._raw = bytearray(_CIPHERTEXT_BUFFER)
        self._view = memoryview(self._raw)

    def handshake(self) -> None:
        """Complete the TLS handshake (blocking within the socket's timeout)."""
        for _ in range(_MAX_STEPS):
            try:
                self._obj.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                if not self._pull():
                    raise ConnectionResetError("closed during the TLS handshake") from None
                continue
            self._flush()
            return
        raise ssl.SSLError("TLS handshake did not finish")  # pragma: no cover

    # -- the socket calls HttpConnection makes ---------------------------------------------
    def settimeout(self, timeout_s: float | None, /) -> None:
        """The underlying socket's timeout (applies to every blocking call here)."""
        self._sock.settimeout(timeout_s)

    def send(self, data: bytes | memoryview, /) -> int:
        """Encrypt all of ``data`` and send the records; returns ``len(data)``."""
        written = self._obj.write(data)
        self._flush()
        return written

    def recv_into(self, buffer: memoryview, /) -> int:
        """Decrypted application bytes into ``buffer`` (0 at EOF); blocks until some arrive."""
        obj = self._obj
        for _ in range(_MAX_STEPS):
            try:
                return cast(
                    int, obj.read(len(buffer), buffer)
                )  # typeshed: bytes; with a buffer, int
            except ssl.SSLWantReadError:
                if not self._pull():
                    return 0
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return 0  # close_notify, or a ragged EOF (SSLSocket's suppress_ragged_eofs)
        raise ssl.SSLError("no application data after many records")  # pragma: no cover

    def recv(self, size: int, flags: int = 0, /) -> bytes:
        """Up to ``size`` decrypted bytes (b"" at EOF); see the module docstring for timeout 0.
        ``flags`` must be 0 (TLS cannot peek)."""
        if flags:
            raise ValueError("flags are not supported over TLS")
        buffer = bytearray(size)
        n = self.recv_into(memoryview(buffer))
        return bytes(buffer[:n])

    def version(self) -> str | None:
        """The negotiated protocol (``TLSv1.3``), as ``SSLSocket.version()``."""
        return self._obj.version()

    def close(self) -> None:
        """Close the underlying socket (no close_notify: the connection is dropped)."""
        self._sock.close()

    # -- internals ---------------------------------------------------------------------------
    def _pull(self) -> bool:
        """One read of ciphertext from the socket into the BIO; False at EOF."""
        n = self._sock.recv_into(self._view)
        if not n:
            self._incoming.write_eof()
            return False
        self._incoming.write(self._view[:n])
        return True

    def _flush(self) -> None:
        """Send everything the TLS object wants to send."""
        data = self._outgoing.read()
        total, sent = len(data), 0
        view = memoryview(data)
        for _ in range(_MAX_STEPS):  # bounded; every pass waits until the socket is writable
            if sent >= total:
                return
            sent += self._sock.send(view[sent:])
        raise ConnectionResetError("TLS records could not be sent")  # pragma: no cover
