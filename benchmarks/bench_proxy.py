"""What the fault proxy adds to a request when no fault is active, against the direct path.

Run ``python benchmarks/bench_proxy.py`` (``--rounds 7 --requests 2000``). It starts a minimal
HTTP/1.1 responder in its own process (uvloop; one write per response, so the target's own time
is as small and as steady as it gets), then a fault proxy process (the real launcher) with two
proxies in front of it: ``tcp`` (bytes only) and ``http`` (request/response framing on, as used
for HTTP faults). One keep-alive connection per path (direct, tcp, http) is driven by the
harness's own lean client, and requests go round-robin over the three paths, one at a time, so
every path sees the same machine noise; each latency is recorded in the harness's HDR histogram
(``harness.measure.LatencyHistogram``). Per round it computes each path's p50 and p99; the
figures reported are the medians over rounds of the *added* time (proxied minus direct, in the
same round). The machine is shared: load averages before and after are printed with the table.

Prints a Markdown table and, with ``--json PATH``, writes the numbers atomically.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import msgspec

from harness.chaos.proxy import Protocol, launch_proxy
from harness.files import atomic_write_bytes
from harness.ledger import Ledger
from harness.load.http import HttpConnection, build_request
from harness.measure import LatencyHistogram

_RESPONSE = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)
_PATHS = ("direct", "tcp", "http")


# -- the target process ------------------------------------------------------------------------
class _Responder(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            self.buf = self.buf[end + 4 :]
            self.transport.write(_RESPONSE)  # type: ignore[attr-defined]


async def _serve() -> None:
    import socket

    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Responder, "127.0.0.1", 0, family=socket.AF_INET)
    print(server.sockets[0].getsockname()[1], flush=True)
    parent = os.getppid()
    while os.getppid() == parent:  # exit with the benchmark
        await asyncio.sleep(0.2)


# -- the measurement ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Result:
    """Medians over rounds (microseconds)."""

    path: str
    p50_us: float
    p99_us: float
    p50_added_us: float
    p99_added_us: float
    requests_per_round: int
    rounds: int


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _round(conns: dict[str, HttpConnection], request: bytes, n: int) -> dict[str, LatencyHistogram]:
    hists = {path: LatencyHistogram() for path in conns}
    deadline_ns = time.monotonic_ns() + 120 * 10**9  # bound in time as well as count
    for _ in range(n):
        for path, conn in conns.items():
            start = time.perf_counter_ns()
            reply = conn.exchange(request, deadline_ns)
            hists[path].record(max(1, (time.perf_counter_ns() - start) // 1000))
            if reply.status != 200:
                raise SystemExit(f"{path}: status {reply.status}")
    return hists


def measure(rounds: int, requests: int) -> list[Result]:
    target = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert target.stdout is not None
        port = int(target.stdout.readline())
        with (
            tempfile.TemporaryDirectory() as state,
            launch_proxy(
                f"127.0.0.1:{port}", name="tcp", protocol=Protocol.TCP, ledger=Ledger(Path(state))
            ) as handle,
        ):
            http = handle.client.create_proxy("http", f"127.0.0.1:{port}", protocol="http")
            addresses = {
                "direct": ("127.0.0.1", port),
                "tcp": _split(handle.listen["tcp"]),
                "http": _split(http["listen"]),
            }
            conns = {path: HttpConnection(*addresses[path]) for path in _PATHS}
            request = build_request("GET", "bench", "/")
            _round(conns, request, 200)  # warm-up: connections, caches
            per_round = [_round(conns, request, requests) for _ in range(rounds)]
            for conn in conns.values():
                conn.close()
    finally:
        target.kill()
        target.wait(timeout=10)
    return [_result(path, per_round, requests) for path in _PATHS]


def _result(path: str, per_round: list[dict[str, LatencyHistogram]], requests: int) -> Result:
    def med(pct: float, minus_direct: bool) -> float:
        values = [
            h[path].percentile_us(pct) - (h["direct"].percentile_us(pct) if minus_direct else 0)
            for h in per_round
        ]
        return float(statistics.median(values))

    return Result(
        path, med(50, False), med(99, False), med(50, True), med(99, True), requests, len(per_round)
    )


def _table(results: list[Result], load_before: str, load_after: str) -> str:
    lines = [
        "| path | p50 (us) | p99 (us) | p50 added (us) | p99 added (us) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.path} | {r.p50_us:.0f} | {r.p99_us:.0f} | {r.p50_added_us:+.0f} | "
            f"{r.p99_added_us:+.0f} |"
        )
    first = results[0]
    lines.append("")
    lines.append(
        f"{first.rounds} rounds x {first.requests_per_round} requests per path, interleaved; "
        f"medians over rounds. Load average before: {load_before}; after: {load_after}."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000, help="per path and round")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        import uvloop

        uvloop.run(_serve())
        return
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = measure(args.rounds, args.requests)
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(_table(results, load_before, load_after))
    if args.json is not None:
        doc = {"results": [asdict(r) for r in results], "load": [load_before, load_after]}
        atomic_write_bytes(args.json, msgspec.json.encode(doc))


if __name__ == "__main__":
    main()
