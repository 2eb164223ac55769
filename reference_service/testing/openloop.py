"""An open-model HTTP/1.1 load source for overload tests (asyncio, raw keep-alive sockets).

Requests are sent at fixed intended times whatever the answers do (open model), each on an idle
keep-alive connection or a new one (bounded pool), and latency is measured from the intended time,
so a service that stalls cannot hide it (no coordinated omission). Bounded in count and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

#: Idle keep-alive connections older than this are closed instead of reused (see open_loop).
IDLE_REUSE_S: Final = 2.0
#: How long a closed-loop client pauses after a 503 (see :func:`closed_loop_capacity`).
SHED_PAUSE_S: Final = 0.01


@dataclass
class Outcome:
    """Per-status latencies (seconds from intended send time) and headers seen."""

    latencies: dict[int, list[float]] = field(default_factory=dict)
    retry_after: int = 0
    errors: int = 0
    sent: int = 0
    #: How late the source itself sent each request (s): its own lag, not the service's.
    send_lag: list[float] = field(default_factory=list)
    #: Latencies (s) of requests sent on a connection opened for them (any status): where a
    #: listen queue the service drains slowly shows (issue 10, hole 10).
    new_connection: list[float] = field(default_factory=list)
    #: Connections the source opened.
    connections: int = 0
    #: Per-status latencies (s) from the moment the source actually wrote the request: the
    #: service's answer time without the source's own lag (asyncio's timers wake late).
    since_send: dict[int, list[float]] = field(default_factory=dict)

    def since_send_quantile(self, status: int, q: float) -> float:
        xs = sorted(self.since_send.get(status, []))
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    def new_connection_quantile(self, q: float) -> float:
        xs = sorted(self.new_connection)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    def over(self, seconds: float) -> int:
        """Answers (any status) that took longer than ``seconds``."""
        return sum(x > seconds for xs in self.latencies.values() for x in xs)

    def lag_quantile(self, q: float) -> float:
        xs = sorted(self.send_lag)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    def count(self, status: int) -> int:
        return len(self.latencies.get(status, []))

    def quantile(self, status: int, q: float) -> float:
        xs = sorted(self.latencies.get(status, []))
        if not xs:
            return float("nan")
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    def median(self, status: int) -> float:
        xs = self.latencies.get(status, [])
        return statistics.median(xs) if xs else float("nan")


async def _exchange(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
) -> tuple[int, dict[bytes, bytes], bytes]:
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, headers, body


def score_request(port: int, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"POST /v1/score HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(payload)}\r\n\r\n"
    ).encode() + payload


async def open_loop(
    port: int,
    make_body: Callable[[], dict[str, Any]],
    rate_per_s: float,
    duration_s: float,
    max_connections: int = 400,
    on_body: Callable[[int, bytes], None] | None = None,
) -> Outcome:
    """Offer ``rate_per_s`` score requests for ``duration_s`` (open model)."""
    out = Outcome()
    # Idle keep-alive connections with the time they became idle: one idle longer than
    # IDLE_REUSE_S is closed, not reused (the service closes connections idle for its header
    # deadline, 5 s by default; reusing one it just closed read as a source error, which is the
    # source's fault, as a browser or an HTTP library that keeps its idle timeout below the
    # server's knows).
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    every: list[asyncio.StreamWriter] = []  # closed at the end, whatever happened
    tasks: set[asyncio.Task[None]] = set()

    def reusable() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        now = time.perf_counter()
        while idle:
            reader, writer, since = idle.pop()
            if now - since <= IDLE_REUSE_S:
                return reader, writer
            writer.close()
        return None

    async def one(intended: float) -> None:
        reused = reusable()
        fresh = reused is None
        try:
            if reused is not None:
                conn = reused
            else:
                conn = await asyncio.open_connection("127.0.0.1", port)
                every.append(conn[1])
                out.connections += 1
            sent_at = time.perf_counter()
            out.send_lag.append(sent_at - intended)
            status, headers, body = await asyncio.wait_for(
                _exchange(conn, score_request(port, make_body())), timeout=10
            )
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            out.errors += 1
            return
        done = time.perf_counter()
        latency = done - intended
        out.latencies.setdefault(status, []).append(latency)
        out.since_send.setdefault(status, []).append(done - sent_at)
        if fresh:
            out.new_connection.append(latency)
        if status == 503 and headers.get(b"retry-after"):
            out.retry_after += 1
        if on_body is not None:
            on_body(status, body)
        if headers.get(b"connection") == b"close":
            conn[1].close()
        else:
            idle.append((*conn, time.perf_counter()))

    start = time.perf_counter() + 0.05
    n = int(rate_per_s * duration_s)
    for i in range(n):
        intended = start + i / rate_per_s
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= max_connections:
            out.errors += 1  # the source itself is saturated: counted, never hidden
            continue
        out.sent += 1
        t = asyncio.create_task(one(intended))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=15)
    for t in list(tasks):
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
    for w in every:
        w.close()
    for w in every:
        with contextlib.suppress(OSError, ConnectionError):
            await w.wait_closed()
    return out


async def closed_loop_capacity(
    port: int, make_body: Callable[[], dict[str, Any]], concurrency: int, duration_s: float
) -> float:
    """200s per second with ``concurrency`` back-to-back clients (the service's capacity).

    A client answered 503 waits :data:`SHED_PAUSE_S` before its next request, as a client
    honouring Retry-After would (for longer): with more clients than the service's in-flight
    limit, clients retrying at once turned every free moment of the event loop into 503s (each a
    few hundred microseconds of CPU, in the service and here) and, on a shared 2-core machine,
    took CPU from the model, so the "capacity" measured was the service's minus the storm. The
    clients that were admitted keep it saturated meanwhile: they send again as soon as they are
    answered."""
    done = 0
    end = time.perf_counter() + duration_s

    async def client() -> None:
        nonlocal done
        conn = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < end:
                status, _, _ = await _exchange(conn, score_request(port, make_body()))
                done += status == 200
                if status == 503:
                    await asyncio.sleep(SHED_PAUSE_S)
        finally:
            conn[1].close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return done / (time.perf_counter() - t0)


async def probe_ready(port: int, duration_s: float, every_s: float = 0.25) -> list[float]:
    """Readiness latencies (s), each probe on a new connection (as an orchestrator's), every
    ``every_s`` for ``duration_s``; a probe that fails or takes over 10 s counts as 10 s."""
    out: list[float] = []
    request = f"GET /v2/health/ready HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\r\n".encode()
    end = time.perf_counter() + duration_s
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        try:
            conn = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
            try:
                status, _, _ = await asyncio.wait_for(_exchange(conn, request), 10)
            finally:
                conn[1].close()
            out.append(time.perf_counter() - t0 if status == 200 else 10.0)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            out.append(10.0)
        await asyncio.sleep(max(0.0, every_s - (time.perf_counter() - t0)))
    return out
