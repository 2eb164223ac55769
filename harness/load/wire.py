"""HTTP/1.1 bytes the lean client sends and reads back, as pure functions.

:func:`build_request` serialises a request once, before its intended send time;
:func:`request_template` does the same work once per *entry* of a scenario's ``requests:``
table, so that per arrival only the body and its ``Content-Length`` are joined to two constant
byte strings (the generator builds one request per arrival: string formatting, a header-name
set and a UTF-8 encode per request were a few us each). Both produce the same bytes:
``build_request(m, h, p, body, ...) == request_template(m, h, p, ...)(body)`` (a property test
holds them equal). :func:`request_builder` fuses the template with an entry's body builder
(``index -> request``), one Python call per request fewer. :func:`dechunk` is the payload of a
validated chunked body.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

__all__ = ["build_request", "dechunk", "request_builder", "request_template"]

_TABLED: Final = 4096
_LENGTHS: Final = tuple(b"%d" % n for n in range(_TABLED))  # Content-Length values, made once


def build_request(
    method: str,
    host_header: str,
    path: str,
    body: bytes | None = None,
    *,
    content_type: str = "application/json",
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The complete request bytes (head and body), ready to send in one ``send``.

    ``headers`` are added after the defaults; one named Host, User-Agent or Content-Type
    replaces the default (a KServe ingress routes by Host). Values are sent as UTF-8.
    """
    return request_template(method, host_header, path, content_type=content_type, headers=headers)(
        body
    )


def request_template(
    method: str,
    host_header: str,
    path: str,
    *,
    content_type: str = "application/json",
    headers: Sequence[tuple[str, str]] = (),
) -> Callable[[bytes | None], bytes]:
    """``body -> request bytes`` for one method, path and header set (see the module doc)."""
    bodiless, prefix, suffix = _parts(method, host_header, path, content_type, headers)
    join = b"".join

    def build(body: bytes | None) -> bytes:
        if body is None:
            return bodiless
        return join((prefix, b"%d" % len(body), suffix, body))

    return build


def request_builder(
    make_body: Callable[[int], bytes | None],
    method: str,
    host_header: str,
    path: str,
    *,
    content_type: str = "application/json",
    headers: Sequence[tuple[str, str]] = (),
) -> Callable[[int], bytes]:
    """``index -> request bytes`` of an entry whose body is ``make_body(index)``:
    ``request_template(...)(make_body(index))`` in one Python call instead of two (one request
    per arrival)."""
    bodiless, prefix, suffix = _parts(method, host_header, path, content_type, headers)
    join = b"".join

    def build(index: int) -> bytes:
        body = make_body(index)
        if body is None:
            return bodiless
        n = len(body)
        return join((prefix, _LENGTHS[n] if n < _TABLED else b"%d" % n, suffix, body))

    return build


def _parts(
    method: str,
    host_header: str,
    path: str,
    content_type: str,
    headers: Sequence[tuple[str, str]],
) -> tuple[bytes, bytes, bytes]:
    """(the whole bodiless request, the head up to the Content-Length value, the head after it)."""
    own = {name.lower() for name, _ in headers}
    lines = [f"{method} {path} HTTP/1.1"]
    if "host" not in own:
        lines.append(f"Host: {host_header}")
    if "user-agent" not in own:
        lines.append("User-Agent: slo-harness")
    fixed = "".join(line + "\r\n" for line in lines)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    bodiless = (fixed + extra + "\r\n").encode("utf-8")
    typed = "" if "content-type" in own else f"Content-Type: {content_type}\r\n"
    prefix = (fixed + typed + "Content-Length: ").encode("utf-8")
    suffix = ("\r\n" + extra + "\r\n").encode("utf-8")
    return bodiless, prefix, suffix


def dechunk(framed: bytes) -> bytes:
    """The payload of a complete, already validated chunked body."""
    out = bytearray()
    pos = 0
    for _ in range(len(framed) + 1):  # bounded: each pass consumes at least one line
        line_end = framed.find(b"\r\n", pos)
        size = int(framed[pos:line_end].split(b";", 1)[0].strip(), 16)
        if size == 0:
            break
        out += framed[line_end + 2 : line_end + 2 + size]
        pos = line_end + 2 + size + 2
    return bytes(out)
