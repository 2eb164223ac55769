"""A lean HTTP/1.1 keep-alive client for the load generator's hot path.

Why not Locust's FastHttpUser (geventhttpclient) or httpx: their per-request work (header dicts,
cookie jars, URL joining, response objects, Locust's own bookkeeping) costs CPU on every request (a
bare FastHttpUser: about 120 us per request, 1.66x this client; the README's "Load generator"
table, from ``benchmarks/bench_generator.py``), and in an open model every microsecond the client
spends is reported as target latency. Requests here are serialised once, before their intended send
time (:func:`build_request`), and a response is parsed only as far as needed to find its end: the
status line, then ``Content-Length`` or ``Transfer-Encoding: chunked`` (or EOF when the server
closes). The body is not decoded; its first bytes are kept only for failed responses (error
messages).

The module uses the stdlib ``socket`` and ``ssl`` APIs only. Inside the generator process
``import locust`` has monkey-patched both with gevent's cooperative sockets, so a blocking ``recv``
(or a TLS handshake) yields to other greenlets; outside it (unit tests) the same code runs on plain
blocking sockets.

TLS (``https://`` targets) lives in connection opening only
(:func:`~harness.load.transport.open_stream`, with the connect, the failure classes and the
send): given an ``ssl_context``, a fresh TCP connection is wrapped
(:class:`~harness.load.tlsio.TlsStream`: memory BIOs, one socket read per readiness instead of
OpenSSL's header-then-body reads) and its handshake completed there, under the same deadline;
request building and response parsing are the same bytes either way. So the handshake is paid
by the request that opened the connection (a slot's first request, or the first after the server
closed it or an error dropped it) and by no other: every later request on the connection reuses
the established TLS session. The same holds for the TCP connect of plain HTTP. A scenario's
warm-up phase absorbs the first connections of a run.

Invariants:
- one request at a time per connection (no pipelining); a response that carries extra bytes
  after its end is a protocol error and the connection is dropped;
- ``exchange`` never takes longer than its deadline: under gevent the connection's
  :class:`~harness.load.deadline.Deadline` (one watchdog timer per hub, no socket timeout; its
  precision is in :mod:`harness.load.deadline`) interrupts the round trip's socket waits; on
  plain blocking sockets the socket timeout is recomputed from the remaining time before every
  blocking call. Connect and TLS handshake always run under a socket timeout (once per
  connection);
- a connection that the server closed while idle (keep-alive timeout) is detected before reuse
  or, if the close races the send, the request is sent once more on a fresh connection, but only
  when not a single response byte had arrived (the server cannot have processed it).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Final, NamedTuple

from harness.load.deadline import Deadline
from harness.load.head import HeadError, parse_head
from harness.load.tlsio import Stream as _Stream
from harness.load.transport import (
    ClientError,
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    RequestTimeout,
    open_stream,
    send_all,
)
from harness.load.transport import remaining_s as _remaining_s
from harness.load.wire import build_request, dechunk

__all__ = [
    "ClientError",
    "ConnectFailed",
    "ConnectionLost",
    "HttpConnection",
    "ProtocolError",
    "Reply",
    "RequestTimeout",
    "build_request",
]

_INITIAL_BUFFER: Final = 64 * 1024
_MAX_RESPONSE: Final = 16 * 1024 * 1024  # a scoring response is < 1 KB; anything bigger is wrong
_MAX_HEAD: Final = 64 * 1024
_SNIPPET: Final = 200  # bytes of a failed response's body kept for error messages
_IDLE_CHECK_NS: Final = 500_000_000  # check an idle connection for a server close after 0.5 s
_HEAD_END: Final = b"\r\n\r\n"
_new_reply: Final = tuple.__new__


class _NoResponse(ConnectionLost):
    """Closed before a single response byte arrived (the request was not processed)."""


class Reply(NamedTuple):
    """What the generator needs of a response: status, body size, and a snippet on failure.

    A NamedTuple, not a frozen dataclass: one per request, and a frozen dataclass's
    ``__init__`` goes through ``object.__setattr__`` per field."""

    status: int
    body_length: int
    snippet: bytes = b""
    body: bytes = b""  # the whole body, only when the exchange asked for it (a body check)


class HttpConnection:
    """One keep-alive connection to ``host:port``, (re)connected lazily."""

    __slots__ = (
        "_buf",
        "_connect_timeout_s",
        "_deadline",
        "_got_bytes",
        "_host",
        "_last_used_ns",
        "_port",
        "_server_name",
        "_sock",
        "_ssl",
        "_view",
        "connect_ns",
        "first_byte_ns",
        "head",
        "last_read_ns",
        "written_ns",
    )

    def __init__(
        self,
        host: str,
        port: int,
        *,
        connect_timeout_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._connect_timeout_s = connect_timeout_s
        self._ssl = ssl_context
        self._server_name = server_name or host
        self._sock: _Stream | None = None
        self._buf = bytearray(_INITIAL_BUFFER)
        self._view = memoryview(self._buf)
        self._last_used_ns = 0
        self._got_bytes = False
        #: Under gevent: the watchdog's note of this connection's deadline (set on connect);
        #: None: plain blocking sockets, per-call socket timeouts.
        self._deadline: Deadline | None = None
        #: Marks of the last exchange, for the tail's client-side breakdown (monotonic ns): time
        #: spent connecting (0 when the connection was reused), when the request was written,
        #: when the first response byte arrived, when the read that completed the response
        #: returned (the completion a slot records: our parsing after it is not the target's
        #: latency); and the last response's raw head (bytes).
        self.connect_ns = 0
        self.written_ns = 0
        self.first_byte_ns = 0
        self.last_read_ns = 0
        self.head = b""

    def __enter__(self) -> HttpConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        """True while a socket is open."""
        return self._sock is not None

    def close(self) -> None:
        """Drop the connection (the next exchange reconnects)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def exchange(self, request: bytes, deadline_ns: int, keep_body: bool = False) -> Reply:
        """Send ``request`` and read its whole response; ``deadline_ns`` is ``time.monotonic_ns``.

        ``keep_body``: return the whole body in ``Reply.body`` (for a response check).
        Raises a :class:`ClientError` subclass; the connection is closed after any error.
        """
        reused = self._sock is not None and not self._stale()
        self.connect_ns = 0
        if not reused:
            self._connect(deadline_ns)
        try:
            return self._round_trip(request, deadline_ns, keep_body)
        except _NoResponse:
            if not reused:
                raise
        # The server closed the idle connection while the request was on its way: it never saw
        # it (not one response byte came back), so it is safe to send it once more.
        self._connect(deadline_ns)
        return self._round_trip(request, deadline_ns, keep_body)

    # -- internals -----------------------------------------------------------------------------
    def _connect(self, deadline_ns: int) -> None:
        self.close()
        began = time.monotonic_ns()
        self._sock, self._deadline = open_stream(
            (self._host, self._port),
            deadline_ns,
            connect_timeout_s=self._connect_timeout_s,
            ssl_context=self._ssl,
            server_name=self._server_name,
            deadline=self._deadline,
        )
        self.connect_ns += time.monotonic_ns() - began

    def _stale(self) -> bool:
        """True (and closed) if the server has closed this idle connection."""
        sock = self._sock
        assert sock is not None
        if time.monotonic_ns() - self._last_used_ns < _IDLE_CHECK_NS:
            return False
        try:
            sock.settimeout(0.0)
            # TLS cannot peek; reading is fine there: any byte while idle means "unusable".
            sock.recv(1) if self._ssl is not None else sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, ssl.SSLWantReadError):
            if self._deadline is not None:
                sock.settimeout(None)  # the watchdog's round trips wait without a timeout
            return False  # alive and quiet: the normal case
        except OSError:
            pass
        # EOF, a reset, or unsolicited bytes: this connection cannot carry a request.
        self.close()
        return True

    def _round_trip(self, request: bytes, deadline_ns: int, keep_body: bool = False) -> Reply:
        sock = self._sock
        assert sock is not None
        self._got_bytes = False
        guard = self._deadline
        try:
            if guard is None:
                sock.settimeout(_remaining_s(deadline_ns))
                send_all(sock, request, deadline_ns)
            else:
                if deadline_ns <= time.monotonic_ns():  # as _remaining_s: never sent late
                    raise RequestTimeout("deadline passed")
                guard.start(deadline_ns)  # the watchdog throws TimeoutError into a late wait
                send_all(sock, request, None)
            self.written_ns = time.monotonic_ns()
            reply = self._read_response(sock, deadline_ns, keep_body)
        except TimeoutError:
            self.close()
            raise RequestTimeout("no complete response before the timeout") from None
        except ClientError:
            self.close()
            raise
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError) as exc:
            self.close()
            if not self._got_bytes:
                raise _NoResponse(f"connection error: {exc}") from None
            raise ConnectionLost(f"connection error: {exc}") from None
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"connection error: {exc}") from None
        finally:
            if guard is not None:
                guard.stop()
        self._last_used_ns = time.monotonic_ns()
        return reply

    def _fill(self, sock: _Stream, end: int, deadline_ns: int) -> int:
        """Read more bytes after ``end``; return the new end. Raises on EOF."""
        if end == len(self._buf):
            if end >= _MAX_RESPONSE:
                raise ProtocolError(f"response larger than {_MAX_RESPONSE} bytes")
            self._buf.extend(bytes(len(self._buf)))
            self._view = memoryview(self._buf)
        if self._deadline is None:  # plain blocking sockets: the time left, per blocking call
            sock.settimeout(_remaining_s(deadline_ns))
        n = sock.recv_into(self._view[end:])
        self.last_read_ns = now = time.monotonic_ns()
        if n:
            if not self._got_bytes:
                self._got_bytes = True
                self.first_byte_ns = now
        else:
            if end == 0:
                raise _NoResponse("closed before any response byte")
            raise ConnectionLost("closed mid-response")
        return end + n

    def _read_response(self, sock: _Stream, deadline_ns: int, keep_body: bool) -> Reply:
        buf = self._buf
        end = self._fill(sock, 0, deadline_ns)  # nothing is in the buffer yet: read first
        head_end = buf.find(_HEAD_END, 0, end)
        if head_end < 0:  # the head came in pieces (rare: a whole head is one segment)
            head_end, end = self._read_head(sock, end, deadline_ns)
        self.head = head = bytes(buf[:head_end])
        try:
            status, length, chunked, close = parse_head(head, _MAX_RESPONSE)
        except HeadError as exc:
            raise ProtocolError(str(exc)) from None
        body_start = head_end + 4
        if status in (204, 304) or 100 <= status < 200:
            body_end = body_start
        elif chunked:
            body_end, end = self._read_chunked(sock, body_start, end, deadline_ns)
        elif length is not None:
            body_end = body_start + length
            while end < body_end:
                end = self._fill(sock, end, deadline_ns)
        else:  # no framing: the body runs until the server closes
            body_end = self._read_to_eof(sock, end, deadline_ns)
            end = body_end
            close = True
        if end != body_end:
            raise ProtocolError("unexpected bytes after the response")
        if 200 <= status < 300 and not keep_body:  # the common case: nothing of the body kept
            if close:
                self.close()
            return _new_reply(Reply, (status, body_end - body_start, b"", b""))  # no __new__ call
        snippet = (
            bytes(buf[body_start : min(body_end, body_start + _SNIPPET)])
            if not 200 <= status < 300
            else b""
        )
        body = bytes(buf[body_start:body_end]) if keep_body else b""
        if keep_body and chunked and body_end > body_start:  # 1xx/204/304: no body to unframe
            body = dechunk(body)
        if close:
            self.close()
        return Reply(status, body_end - body_start, snippet, body)

    def _read_head(self, sock: _Stream, end: int, deadline_ns: int) -> tuple[int, int]:
        """Read until the head is complete; (offset of its blank line, end of data read)."""
        buf = self._buf
        for _ in range(_MAX_RESPONSE):  # bounded: every pass reads at least one byte
            if end > _MAX_HEAD:
                raise ProtocolError("response head larger than 64 KB")
            end = self._fill(sock, end, deadline_ns)
            head_end = buf.find(_HEAD_END, 0, end)
            if head_end >= 0:
                return head_end, end
        raise ProtocolError("unterminated response head")  # pragma: no cover - unreachable

    def _read_chunked(self, sock: _Stream, pos: int, end: int, deadline_ns: int) -> tuple[int, int]:
        """Walk the chunks from ``pos``; return (end of the message, end of data read)."""
        buf = self._buf
        for _ in range(_MAX_RESPONSE):
            line_end = buf.find(b"\r\n", pos, end)
            if line_end < 0:
                end = self._fill(sock, end, deadline_ns)
                continue
            try:
                size = int(bytes(buf[pos:line_end]).split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ProtocolError("bad chunk size line") from None
            if size == 0:
                # Optional trailer lines, then an empty line: the first blank line ends it.
                for _ in range(_MAX_RESPONSE):
                    blank = buf.find(_HEAD_END, line_end, end)
                    if blank >= 0:
                        return blank + 4, end
                    end = self._fill(sock, end, deadline_ns)
                raise ProtocolError("unterminated chunked trailer")  # pragma: no cover
            pos = line_end + 2 + size + 2
            while end < pos:
                end = self._fill(sock, end, deadline_ns)
            if buf[pos - 2 : pos] != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")
        raise ProtocolError("too many chunks")  # pragma: no cover

    def _read_to_eof(self, sock: _Stream, end: int, deadline_ns: int) -> int:
        for _ in range(_MAX_RESPONSE):
            try:
                end = self._fill(sock, end, deadline_ns)
            except ConnectionLost:
                return end
        raise ProtocolError("response never ended")  # pragma: no cover
