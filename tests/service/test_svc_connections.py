"""The service's HTTP protocol pieces against uvicorn's own: same bytes, same state, same timers.

``OneWriteCycle`` renders the common response (start + one complete body) itself instead of
through uvicorn's ``send``; ``GuardedProtocol`` keeps the keep-alive and header deadlines as
floats checked by one timer per connection instead of a timer armed and cancelled per request.
These tests hold both to what uvicorn and the earlier per-request timers did, without a socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from uvicorn.server import ServerState

from reference_service.connections import GuardedProtocol, OneWriteCycle

_T = TypeVar("_T")


class _Transport:
    """What a cycle uses of a transport: writes are recorded, close is remembered."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 8080) if name in ("sockname", "peername") else None


def _drive(coro: Coroutine[Any, Any, _T]) -> _T:
    """Run a coroutine that must finish without suspending (no event loop needed)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return cast(_T, done.value)
    coro.close()
    raise AssertionError("the coroutine suspended")


def _cycle(kind: type[RequestResponseCycle], method: str, keep_alive: bool) -> Any:
    transport = _Transport()
    done: list[bool] = []
    cycle = kind(
        scope={"type": "http", "method": method, "path": "/", "headers": []},  # type: ignore[typeddict-item]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: done.append(True),
    )
    return cycle, transport, done


def _outcome(
    kind: type[RequestResponseCycle],
    method: str,
    keep_alive: bool,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> tuple[Any, ...]:
    cycle, transport, done = _cycle(kind, method, keep_alive)

    async def run() -> str | None:
        try:
            await cycle.send({"type": "http.response.start", "status": status, "headers": headers})
            await cycle.send({"type": "http.response.body", "body": body, "more_body": False})
        except (RuntimeError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    error = _drive(run())
    return (
        error,
        b"".join(transport.writes),
        transport.closed,
        cycle.keep_alive,
        cycle.response_complete,
        cycle.message_event.is_set(),
        done,
    )


_NAMES = st.sampled_from(
    [b"content-type", b"x-request-id", b"server-timing", b"retry-after", b"Connection", b"allow"]
)
_VALUES = st.sampled_from(
    [b"application/json", b"1", b"close", b"keep-alive", b"Close, upgrade", b"a\x01b", b"x y"]
)


@settings(max_examples=150, deadline=None)
@given(
    method=st.sampled_from(["POST", "GET", "HEAD"]),
    keep_alive=st.booleans(),
    status=st.sampled_from([200, 204, 304, 404, 503]),
    extra=st.lists(st.tuples(_NAMES, _VALUES), max_size=4),
    length=st.sampled_from(["exact", "short", "long", "none", "chunked", "bad-name"]),
    body=st.binary(max_size=40),
)
def test_one_pass_render_matches_uvicorn(
    method: str,
    keep_alive: bool,
    status: int,
    extra: list[tuple[bytes, bytes]],
    length: str,
    body: bytes,
) -> None:
    """Start + complete body: the bytes written, the error raised, the connection's keep-alive
    and close, and the completion callback are what uvicorn's own ``send`` produces."""
    headers = list(extra)
    if length != "none":
        n = {"exact": len(body), "short": len(body) + 1, "long": max(0, len(body) - 1)}
        headers.insert(0, (b"content-length", str(n.get(length, len(body))).encode()))
    if length == "chunked":
        headers.append((b"transfer-encoding", b"chunked"))
    if length == "bad-name":
        headers.append((b"bad name", b"v"))
    theirs = _outcome(RequestResponseCycle, method, keep_alive, status, headers, body)
    ours = _outcome(OneWriteCycle, method, keep_alive, status, headers, body)
    assert ours == theirs
    if theirs[0] is None:
        assert len(_cycle_writes(method, keep_alive, status, headers, body)) == 1


def test_a_plain_response_is_rendered_without_uvicorns_send(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service's usual answer (status, content-length, body) takes the one-pass path."""

    async def refuse(self: Any, message: Any) -> None:
        raise AssertionError("uvicorn's send was used")

    monkeypatch.setattr(RequestResponseCycle, "send", refuse)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    writes = _cycle_writes("POST", True, 200, [*headers, (b"x-request-id", b"ab12r1")], b"{}")
    assert writes == [
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n"
        b"x-request-id: ab12r1\r\n\r\n{}"
    ]


def _cycle_writes(
    method: str, keep_alive: bool, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> list[bytes]:
    cycle, transport, _ = _cycle(OneWriteCycle, method, keep_alive)

    async def run() -> None:
        await cycle.send({"type": "http.response.start", "status": status, "headers": headers})
        await cycle.send({"type": "http.response.body", "body": body, "more_body": False})

    _drive(run())
    return [w for w in transport.writes if w]


# ---- deadlines: one lazy timer per connection ---------------------------------------------------


class _Loop:
    """An event-loop stand-in: a settable clock, inspectable timers, tasks kept until
    :meth:`run_tasks` runs them to completion (the test app never suspends once its request is
    complete)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[_Timer] = []
        self.tasks: list[Coroutine[Any, Any, None]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, fn: Any) -> _Timer:
        timer = _Timer(self, when, fn)
        self.timers.append(timer)
        return timer

    def call_later(self, delay: float, fn: Any) -> _Timer:
        return self.call_at(self.now + delay, fn)

    def create_task(self, coro: Coroutine[Any, Any, None]) -> _Task:
        self.tasks.append(coro)
        return _Task()

    def run_tasks(self) -> None:
        while self.tasks:
            _drive(self.tasks.pop(0))

    def advance(self, to: float) -> None:
        """Run every timer due by ``to`` in time order (a timer may set a new one)."""
        while due := sorted((t for t in self.timers if t.when <= to), key=lambda t: t.when):
            timer = due[0]
            self.timers.remove(timer)
            self.now = max(self.now, timer.when)
            timer.fn()
        self.now = to


class _Timer:
    def __init__(self, loop: _Loop, when: float, fn: Any) -> None:
        self.loop, self.when, self.fn = loop, when, fn

    def cancel(self) -> None:
        if self in self.loop.timers:
            self.loop.timers.remove(self)


class _Task:
    def add_done_callback(self, fn: Any) -> None: ...


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


def _connection(header_s: float, keep_alive_s: int) -> tuple[GuardedProtocol, _Loop, _Transport]:
    config = Config(
        _app,
        http=GuardedProtocol,
        lifespan="off",
        proxy_headers=False,
        timeout_keep_alive=keep_alive_s,
    )
    config.load()
    loop = _Loop()
    proto = GuardedProtocol(
        config=config,
        server_state=ServerState(),
        app_state={},
        _loop=loop,  # type: ignore[arg-type]
    )
    proto._header_timeout_s = header_s
    transport = _Transport()
    proto.connection_made(transport)  # type: ignore[arg-type]
    return proto, loop, transport


_REQUEST = b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n"


def _request(proto: GuardedProtocol, loop: _Loop) -> None:
    """One complete request arrives and is answered."""
    proto.data_received(_REQUEST)
    loop.run_tasks()


@pytest.mark.parametrize(("header_s", "keep_alive_s"), [(5.0, 5), (1.0, 5), (5.0, 2)])
def test_a_quiet_connection_is_closed_a_deadline_after_its_last_response(
    header_s: float, keep_alive_s: int
) -> None:
    """After many requests, a connection that goes quiet is closed at the nearer of the keep-alive
    and header deadlines after its *last* response, not before; never more than one timer."""
    proto, loop, transport = _connection(header_s, keep_alive_s)
    for _ in range(50):
        loop.advance(loop.now + 0.3)
        _request(proto, loop)
        assert len(loop.timers) <= 1
    assert len(transport.writes) == 50
    assert all(w.endswith(b"ok") for w in transport.writes)
    last = loop.now
    limit = min(header_s, keep_alive_s)
    loop.advance(last + limit - 0.01)
    assert not transport.closed
    loop.advance(last + limit + 0.01)
    assert transport.closed


def test_trickled_headers_are_closed_at_the_header_deadline() -> None:
    """Bytes that never complete the headers satisfy keep-alive but not the header deadline,
    after a response as on a new connection."""
    proto, loop, transport = _connection(1.0, 5)
    loop.advance(100.5)
    _request(proto, loop)
    start = loop.now
    for ch in b"GET /x HTTP/1.1\r\nhos":
        loop.advance(loop.now + 0.05)
        proto.data_received(bytes([ch]))
    loop.advance(start + 0.99)
    assert not transport.closed
    loop.advance(start + 1.01)
    assert transport.closed


def test_a_request_in_progress_is_not_closed_by_a_deadline() -> None:
    """While the app has not answered, nothing is due, however long it takes."""
    proto, loop, transport = _connection(1.0, 2)
    proto.data_received(_REQUEST)
    loop.advance(130.0)
    assert not transport.closed
    loop.run_tasks()
    loop.advance(130.99)
    assert not transport.closed
    loop.advance(131.01)
    assert transport.closed
