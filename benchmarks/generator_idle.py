"""Latency added per request on an idle-gapped target (issue 11), for ``bench_generator.py``.

``python benchmarks/bench_generator.py --only idle-gap [--quick]``. The target here is the kind
the project's own known-latency target is built *not* to be: an asyncio server that sleeps 2 ms
per request (:func:`serve_idle`), so at 200 requests/s it goes idle between requests and every
request pays a wake-up on both ends. Against it, one after the other in interleaved rounds (the
client order rotates every round; target on ``TARGET_CPU``, clients on ``GEN_CPU``):

- ``wrk -t1 -c1`` back to back, and with a Lua ``delay()`` (2 and 3 ms in turn: about the same
  200 requests/s as the others, the *paced* reference the bar is against);
- a blocking stdlib-socket client paced to 200/s (``time.sleep`` to each intended time): what
  Python costs per exchange without gevent;
- a gevent "floor" client (:func:`floor_paced`): the generator's own waker and a gevent socket,
  pre-built request bytes, ``send`` + ``recv_into`` and a Content-Length read, nothing else: what
  the hub's wake-up on socket readiness and the greenlet switch cost;
- the generator itself (200 requests/s open model; service clock = actual send to recorded
  completion, intended clock = what reports use).

Differences of medians give the breakdown: blocking - paced wrk = Python's receive path; floor -
blocking = gevent's hub wake-up + switch; ours (service) - floor = the harness's client and
bookkeeping between send and the recorded completion; ours (intended) - ours (service) = its
scheduling. Every latency here is from a client's own send (wrk's and the references') except the
intended clock.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import time
from typing import Any

THINK_S = 0.002
RATE = 200.0
_OK = b'{"ok":true,"score":0.01}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(_OK)).encode()
    + b"\r\n\r\n"
    + _OK
)
#: wrk paced: delay() alternates 2 and 3 ms (wrk takes whole ms): ~5 ms per request at ~2.5 ms.
WRK_PACED_LUA = """
wrk.method = "POST"
wrk.body = '{"transaction_id":"bench-1","amount":42.5}'
wrk.headers["Content-Type"] = "application/json"
local n = 0
function delay()
  n = n + 1
  return 2 + (n % 2)
end
"""
WRK_B2B_LUA = """
wrk.method = "POST"
wrk.body = '{"transaction_id":"bench-1","amount":42.5}'
wrk.headers["Content-Type"] = "application/json"
"""
REQUEST = (
    b"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n"
    b"Content-Type: application/json\r\nContent-Length: 42\r\n\r\n"
    b'{"transaction_id":"bench-1","amount":42.5}'
)


# -- the target ----------------------------------------------------------------------------------
async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        for _ in range(10**9):  # bounded by the connection (EOF ends it)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            if not head.startswith(b"GET /v2/health"):
                await asyncio.sleep(THINK_S)
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(lifetime_s: float) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"READY http://127.0.0.1:{port}", flush=True)
    async with server:
        await asyncio.sleep(lifetime_s)


def serve_idle(lifetime_s: float = 900.0) -> None:
    """The idle-gapped target: asyncio streams, 2 ms think time per request (health at once)."""
    asyncio.run(_serve(lifetime_s))


# -- reference clients (children) ----------------------------------------------------------------
def _read_response(sock: socket.socket, buf: bytearray) -> tuple[int, int]:
    """Read one response of the idle target into ``buf``; (first byte ns, done ns)."""
    view = memoryview(buf)
    n = sock.recv_into(view)
    first = time.monotonic_ns()
    need = len(RESPONSE)
    for _ in range(need):  # bounded: every pass reads at least one byte
        if n >= need:
            break
        got = sock.recv_into(view[n:])
        if not got:
            raise ConnectionError("closed mid-response")
        n += got
    return first, time.monotonic_ns()


def _paced(host: str, port: int, duration_s: float, wait_until: Any) -> dict[str, Any]:
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray(65536)
    total, wait, recv = [], [], []
    start = time.monotonic_ns() + 200_000_000
    n = int(duration_s * RATE)
    for i in range(n):
        wait_until(start + round(i * 1e9 / RATE))
        sent = time.monotonic_ns()
        sock.send(REQUEST)
        written = time.monotonic_ns()
        first, done = _read_response(sock, buf)
        if i >= RATE:  # the first second warms up
            total.append(done - sent)
            wait.append(first - written)
            recv.append(done - first)
    sock.close()
    return {
        "p50": statistics.median(total) / 1e6,
        "wait_p50": statistics.median(wait) / 1e6,
        "receive_p50": statistics.median(recv) / 1e6,
        "count": len(total),
    }


def blocking_paced(url: str, duration_s: float) -> dict[str, Any]:
    """Plain blocking sockets, ``time.sleep`` to each intended time (no gevent)."""
    host, port = url.split("//")[1].split(":")

    def wait_until(mono_ns: int) -> None:
        delay = (mono_ns - time.monotonic_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)

    return _paced(host, int(port), duration_s, wait_until)


def floor_paced(url: str, duration_s: float) -> dict[str, Any]:
    """The gevent floor: the generator's own waker, a gevent socket in a greenlet, nothing else."""
    import gevent

    from harness.load import pacing  # imports Locust first: the process is gevent-patched

    host, port = url.split("//")[1].split(":")
    waker = pacing.make_waker()
    try:
        return gevent.spawn(_paced, host, int(port), duration_s, waker.wait_until).get()
    finally:
        waker.close()


# -- report --------------------------------------------------------------------------------------
ROWS = (
    ("wrk_b2b", "`wrk -t1 -c1` back to back"),
    ("wrk_paced", "`wrk -t1 -c1` paced (Lua `delay()`, ~200/s): the reference"),
    ("blocking", "blocking Python socket client, paced 200/s"),
    ("floor", "gevent floor: harness waker + gevent socket, nothing else, paced 200/s"),
    ("ours_service", "slo-harness, service clock (actual send -> recorded completion)"),
    ("ours", "slo-harness, intended clock (what reports use)"),
)


def idle_table(data: dict[str, Any]) -> tuple[list[str], bool]:
    """Rows per client (median p50 over rounds), the breakdown, and the verdict."""
    med = {k: statistics.median(v) for k, v in data["p50"].items() if v}
    ref = med["wrk_paced"]
    bar = max(0.03 * ref, 0.3)
    lines = [
        "### Idle-gapped target (asyncio, 2 ms think time, 200 requests/s; issue 11)",
        "",
        "| client | p50 per round (ms) | median p50 | Δ vs paced wrk |",
        "|---|---|---|---|",
    ]
    for key, title in ROWS:
        runs = ", ".join(f"{x:.3f}" for x in data["p50"].get(key, []))
        if key in med:
            lines.append(f"| {title} | {runs} | {med[key]:.3f} | {med[key] - ref:+.3f} |")
    ok = abs(med["ours"] - ref) <= bar
    lines.append(
        f"| verdict | | | {med['ours'] - ref:+.3f} ms (bar ±{bar:.3f}): "
        f"{'PASS' if ok else 'FAIL'} |"
    )
    parts = (
        ("Python's receive path (blocking - paced wrk)", med["blocking"] - ref),
        ("gevent hub wake-up + greenlet switch (floor - blocking)", med["floor"] - med["blocking"]),
        ("harness client + bookkeeping (ours service - floor)", med["ours_service"] - med["floor"]),
        ("harness scheduling (ours intended - ours service)", med["ours"] - med["ours_service"]),
    )
    lines += ["", "| where the difference goes | ms (p50 differences) |", "|---|---|"]
    lines += [f"| {name} | {value:+.3f} |" for name, value in parts]
    waits = data.get("wait_p50", {})
    if waits:
        lines += [
            "",
            "| reference client | wait: written -> first byte | receive: first byte -> done |",
            "|---|---|---|",
        ]
        for key in ("blocking", "floor"):
            w = statistics.median(waits[key])
            r = statistics.median(data["receive_p50"][key])
            lines.append(f"| {key} | {w:.3f} ms | {r:.3f} ms |")
    return lines, ok


if __name__ == "__main__":  # pragma: no cover - a child process of bench_generator.py
    serve_idle(float(sys.argv[1]) if len(sys.argv) > 1 else 900.0)
