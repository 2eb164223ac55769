"""Where one HTTP/1.1 message ends and the next begins, in a byte stream, without copying it.

Why hand-written: the HTTP fault decides per *request* on keep-alive connections, so the proxy must
cut the client's byte stream at request boundaries (to hold, forward or swallow exactly one
request) and count the server's responses (an injected response must not overtake the response
of an earlier, forwarded request). httptools/llhttp parse, but report no byte offsets of message
ends from their callbacks, and h11 re-serialises messages instead of passing bytes through. This
framer only finds boundaries: the head (``\\r\\n\\r\\n``), then ``Content-Length``, chunked
transfer coding, or (responses only) no body for HEAD/1xx/204/304, or a body until EOF.

Invariants:
- every byte fed comes out in exactly one :class:`Piece`, in order; only an incomplete head is
  held back (until it completes; at most :data:`MAX_HEAD_BYTES`, beyond that the stream is
  *opaque*);
- a :class:`Piece` carries the message's :class:`Head` when it contains the head, and ``end``
  when it contains the last byte of a final message (1xx interim responses are not final);
- anything that is not well-formed HTTP/1.x (or a 101 upgrade) turns the framer opaque for good:
  bytes then pass as they are, unframed, so a non-HTTP client is proxied, never broken.
"""

from __future__ import annotations

import enum
from collections import deque
from typing import Final, NamedTuple

__all__ = ["MAX_HEAD_BYTES", "Framer", "Head", "Kind", "Piece"]

MAX_HEAD_BYTES: Final = 64 * 1024
_MAX_LINE_BYTES: Final = 8 * 1024  # a chunk-size or trailer line


class Kind(enum.Enum):
    """Which side's messages a framer reads."""

    REQUEST = "request"
    RESPONSE = "response"


class Head(NamedTuple):
    """What the proxy needs of a message head."""

    method: bytes  # request method (for responses: the method they answer)
    path: bytes  # request target without the query string; b"" for responses
    status: int  # response status; 0 for requests
    close: bool  # the connection closes after this message


class Piece(NamedTuple):
    """A run of bytes of one message."""

    data: bytes
    head: Head | None
    end: bool


class _S(enum.Enum):
    HEAD = 0
    BODY = 1
    CHUNK_SIZE = 2
    CHUNK_DATA = 3
    TRAILER = 4
    UNTIL_EOF = 5
    OPAQUE = 6


class Framer:
    """Incremental framing of one direction; ``methods`` links a request and a response framer.

    The request framer appends each request's method to ``methods``; the response framer takes
    them in order to know which responses have no body (HEAD).
    """

    __slots__ = ("_buf", "_kind", "_line", "_methods", "_remaining", "_state")

    def __init__(self, kind: Kind, methods: deque[bytes]) -> None:
        self._kind = kind
        self._methods = methods
        self._state = _S.HEAD
        self._buf = bytearray()  # an incomplete head
        self._line = bytearray()  # an incomplete chunk-size or trailer line
        self._remaining = 0

    @property
    def opaque(self) -> bool:
        """True once the stream stopped looking like HTTP/1.x (or was upgraded)."""
        return self._state is _S.OPAQUE

    @property
    def at_boundary(self) -> bool:
        """True between messages (nothing of a message fed yet)."""
        return self._state is _S.HEAD and not self._buf

    def feed(self, data: bytes) -> list[Piece]:
        """Cut ``data`` (appended to what came before) into pieces; see the module invariants."""
        if self._buf:
            data = bytes(self._buf) + data
            self._buf.clear()
        out: list[Piece] = []
        pos = start = 0
        n = len(data)
        head: Head | None = None
        while pos < n:
            state = self._state
            if state is _S.HEAD:
                end = data.find(b"\r\n\r\n", pos)
                if end < 0:
                    if n - pos > MAX_HEAD_BYTES:
                        self._state = _S.OPAQUE
                        continue
                    self._buf += data[pos:]
                    return out
                head = self._parse_head(data[pos:end])
                if head is None:
                    self._state = _S.OPAQUE
                    continue
                pos = end + 4
                if self._state is _S.HEAD or (self._state is _S.OPAQUE and head.status == 101):
                    final = not 100 <= head.status < 200 or head.status == 101
                    out.append(Piece(data[start:pos], head, final))
                    start, head = pos, None
            elif state is _S.BODY or state is _S.CHUNK_DATA:
                take = min(self._remaining, n - pos)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if state is _S.BODY:
                        out.append(Piece(data[start:pos], head, True))
                        start, head = pos, None
                        self._state = _S.HEAD
                    else:
                        self._state = _S.CHUNK_SIZE
            elif state is _S.CHUNK_SIZE or state is _S.TRAILER:
                pos = self._read_line(data, pos)
                if self._state is _S.HEAD:  # the trailer's empty line ended the message
                    out.append(Piece(data[start:pos], head, True))
                    start, head = pos, None
            else:  # UNTIL_EOF, OPAQUE: everything passes
                pos = n
        if start < n:
            out.append(Piece(data[start:], head, False))
        return out

    # -- internals ---------------------------------------------------------------------------
    def _read_line(self, data: bytes, pos: int) -> int:
        newline = data.find(b"\n", pos)
        if newline < 0:
            self._line += data[pos:]
            if len(self._line) > _MAX_LINE_BYTES:
                self._state = _S.OPAQUE
            return len(data)
        self._line += data[pos:newline]
        line = bytes(self._line).rstrip(b"\r")
        self._line.clear()
        if self._state is _S.TRAILER:
            if not line:
                self._state = _S.HEAD
            return newline + 1
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            self._state = _S.OPAQUE
            return newline + 1
        if size == 0:
            self._state = _S.TRAILER
        else:
            self._remaining = size + 2  # the data and its CRLF
            self._state = _S.CHUNK_DATA
        return newline + 1

    def _parse_head(self, raw: bytes) -> Head | None:
        lines = raw.split(b"\r\n")
        first = lines[0].split(b" ", 2)
        if len(first) != 3:
            return None
        length = -1
        chunked = close = upgrade = False
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                return None
            key = name.lower()
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return None
            elif key == b"transfer-encoding":
                chunked = value.strip().lower().endswith(b"chunked")
            elif key == b"connection":
                tokens = value.lower()
                close = b"close" in tokens
                upgrade = b"upgrade" in tokens
        if self._kind is Kind.REQUEST:
            return self._request_head(first, length, chunked, close, upgrade)
        return self._response_head(first, length, chunked, close)

    def _request_head(
        self, first: list[bytes], length: int, chunked: bool, close: bool, upgrade: bool
    ) -> Head | None:
        method, target, version = first
        if not version.startswith(b"HTTP/1.") or not method.isalpha():
            return None
        self._methods.append(method)
        if version == b"HTTP/1.0":
            close = True  # no keep-alive negotiation here: treat 1.0 as closing
        if upgrade or method == b"CONNECT":
            self._state = _S.OPAQUE  # what follows is not HTTP/1.1 requests
        elif chunked:
            self._state = _S.CHUNK_SIZE
        elif length > 0:
            self._remaining = length
            self._state = _S.BODY
        return Head(method, target.split(b"?", 1)[0], 0, close)

    def _response_head(
        self, first: list[bytes], length: int, chunked: bool, close: bool
    ) -> Head | None:
        version, code, _reason = first
        if not version.startswith(b"HTTP/1.") or not code.isdigit():
            return None
        status = int(code)
        interim = 100 <= status < 200 and status != 101
        if interim:
            method = self._methods[0] if self._methods else b"GET"
        else:
            method = self._methods.popleft() if self._methods else b"GET"
        if status == 101:
            self._state = _S.OPAQUE
        elif interim or method == b"HEAD" or status in (204, 304):
            pass  # no body
        elif chunked:
            self._state = _S.CHUNK_SIZE
        elif length >= 0:
            if length > 0:
                self._remaining = length
                self._state = _S.BODY
        else:
            self._state = _S.UNTIL_EOF
        return Head(method, b"", status, close or version == b"HTTP/1.0")
