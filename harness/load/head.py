"""HTTP heads on the generator's hot path: the response-head parse of the lean client
(:mod:`harness.load.http`: the few fields it reads, in one pass), and the splice of one more
request header (the engine's ``traceparent``, :func:`with_header`).

The client needs four things of a head: the status code, ``Content-Length``, whether
``Transfer-Encoding`` says ``chunked``, and whether the connection closes after the response
(``Connection: close``, or HTTP/1.0 without ``keep-alive``). Each header is the first line that
starts ``name:`` in any case; a folded (obsolete) continuation is not joined, so a value folded
onto the next line is what its first line holds. Once per response, so it is on the generator's
hot path: the form here costs about half of the plain one it replaced (``int()`` of the status
bytes, ``in`` per header) and gives the same result for every head, errors included
(``tests/load/test_load_head_parse.py`` runs both on generated heads and whole responses).
Errors are :class:`HeadError`; the client raises them as its ``ProtocolError``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["HeadError", "parse_head", "with_header"]


class HeadError(Exception):
    """A head that is not a usable HTTP/1.x response head (the message says which part)."""


def parse_head(head: bytes, max_length: int) -> tuple[int, int | None, bool, bool]:
    """(status, content length or None, chunked, connection close) of a response head (its
    bytes up to the blank line); a Content-Length above ``max_length`` is an error.

    The status code of a well-formed status line (three digits after ``HTTP/1.x``) comes from a
    table (``int()`` of bytes costs more; any other status line goes through
    :func:`_parse_status`, which keeps ``int``'s leniency and the errors); the head is lowered
    once and each header found by ``find`` (cheaper than ``in``); ``int()`` skips the blanks
    around a length itself (the same ASCII whitespace ``bytes.strip`` removes).
    """
    status = _STATUS_CODES.get(head[9:12])
    if status is None or head[:7] != b"HTTP/1." or head[12:13] not in _AFTER_STATUS:
        status = _parse_status(head)
    lower = head.lower()
    length: int | None = None
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        stop = lower.find(b"\r\n", at + 2)
        try:
            length = int(lower[at + 17 : stop if stop >= 0 else None])
        except ValueError:
            raise HeadError("bad Content-Length") from None
        if length < 0 or length > max_length:
            raise HeadError("Content-Length out of range")
    at = lower.find(b"\r\ntransfer-encoding:")
    chunked = at >= 0 and _field_has(lower, at, b"chunked")
    http10 = head[7] == 0x30  # "HTTP/1.0"
    at = lower.find(b"\r\nconnection:")
    if at < 0:
        return status, length, chunked, http10
    close = http10 or _field_has(lower, at, b"close")
    if http10 and _field_has(lower, at, b"keep-alive"):
        close = False
    return status, length, chunked, close


def _parse_status(head: bytes) -> int:
    """The status code of any head: the general form of :func:`parse_head`'s table lookup."""
    if not head.startswith(b"HTTP/1.") or len(head) < 12 or head[12:13] not in _AFTER_STATUS:
        raise HeadError("not an HTTP/1.x status line")
    try:
        return int(head[9:12])
    except ValueError:
        raise HeadError("bad status code") from None


def _field_has(lower_head: bytes, at: int, token: bytes) -> bool:
    """Whether the header line starting at ``at`` (at its line break) contains ``token``."""
    stop = lower_head.find(b"\r\n", at + 2)
    return token in lower_head[at : stop if stop >= 0 else None]


#: Three ASCII digits -> their value (what ``int()`` gives for them), for the status code.
_STATUS_CODES: Final = {b"%03d" % code: code for code in range(1000)}
_AFTER_STATUS: Final = (b" ", b"\r", b"")


def with_header(request: bytes, line: bytes) -> bytes:
    """``request`` with one more header ``line`` (ending in CRLF) right after its request line.

    Every request a source builds starts with a request line ended by CRLF; one ``replace`` is
    half the cost of ``find`` and three slices, and gives the same bytes for such a request.
    """
    return request.replace(b"\r\n", b"\r\n" + line, 1)
