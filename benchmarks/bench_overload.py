"""Overload at 3x capacity, before/after in one run (issue 10, hole 10): where the seconds went.

Extracts a *before* tree (``--before REF``: its ``reference_service/``) with ``git archive`` and
runs the same measurement against it and against the working tree, interleaved round by round
(shared-machine noise hits both alike): a service burning ``--cpu-ms`` of CPU per score request
(the overload test's heavier model) is measured closed-loop for its capacity, then offered 3x of
it open-loop (``reference_service.testing.open_loop``: intended send times, a bounded pool of
keep-alive connections, new ones opened when all are busy) for ``--seconds``. Beside the client's
latencies (from the intended send time) it samples the listening socket's accept queue (``ss
-ltn`` Recv-Q, every 50 ms) and the kernel's ``ListenOverflows``/``ListenDrops``/``TCPSynRetrans``
(``nstat``). As root it re-runs itself in a fresh network namespace (``unshare -n``, loopback
only) so those counters are this run's alone.

The cost of a refusal, apart from the wall clock (which a shared machine makes noisy): a service
held at its limit (``--max-in-flight 1``, one request parked in the handler) answers only 503s;
``--shed-requests`` of them are sent closed-loop on 4 keep-alive connections, and the service
process's CPU time (user + system, ``/proc``) over them divided by their number is the CPU per
503. The same is measured for ``GET /v2/health/live`` (the cheapest request through the app) for
scale. In the overload part, "503 / admitted" is the ratio of the client-side median answer times
of shed and admitted requests in the same run.

The heavier model is each tree's own hook: ``--debug-model-cpu-ms`` (an ONNX ballast run by ONNX
Runtime, GIL released; :mod:`reference_service.model.ballast`) where the tree has it, else the
older ``--debug-handler-cpu-ms`` (a Python spin in the handler, GIL held). ``--before-args`` /
``--after-args`` add service flags to one side, e.g. the inference policy alone, same tree and
same hook: ``--before HEAD --before-args='--inference inline' --after-args='--inference thread'``.

    .venv/bin/python benchmarks/bench_overload.py --before 5fbe948 [--rounds 3] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from reference_service.testing import closed_loop_capacity, open_loop, transaction, write_key

ROOT = Path(__file__).resolve().parents[1]

_COUNTERS = ("TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPSynRetrans")


def _nstat() -> dict[str, int]:
    out = subprocess.run(["nstat", "-az", *_COUNTERS], capture_output=True, text=True).stdout
    return {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if p[0] in _COUNTERS}


def _accept_queue(port: int, stop: threading.Event, seen: list[int]) -> None:
    while not stop.wait(0.05):
        out = subprocess.run(
            ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True
        ).stdout.split()
        if len(out) >= 2:
            seen.append(int(out[1]))


def _cpu_flag(tree: Path) -> str:
    """The heavier-model hook of ``tree``: the ONNX ballast (GIL released, as ONNX Runtime
    does) where the tree has it, else the older Python spin in the handler (GIL held)."""
    config = (tree / "reference_service" / "config.py").read_text()
    return "--debug-model-cpu-ms" if "--debug-model-cpu-ms" in config else "--debug-handler-cpu-ms"


def _start(
    tree: Path, work: Path, audit: Path, cpu_ms: float, *extra: str
) -> tuple[subprocess.Popen[bytes], int]:
    log = work / "service.log"
    args = [sys.executable, "-m", "reference_service", "--port", "0"]
    args += ["--audit-dir", str(audit)]  # tmpfs: this is about CPU overload, not fsync
    args += ["--pan-key-file", str(write_key(work / "pan.key"))]
    args += ["--audit-key-file", str(write_key(work / "audit.key"))]
    args += [_cpu_flag(tree), str(cpu_ms), *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLO_")}
    env["PYTHONPATH"] = str(tree)
    with log.open("wb") as f:
        proc = subprocess.Popen(args, cwd=tree, stdout=f, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if '"event":"ready"' in line:
                ports = [json.loads(x)["port"] for x in log.read_text().splitlines()
                         if '"event":"listening"' in x]  # fmt: skip
                return proc, int(ports[0])
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("service not ready in 60 s")


def _one(tree: Path, cpu_ms: float, seconds: float, *extra: str) -> dict[str, Any]:
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with (
        tempfile.TemporaryDirectory(prefix="slo-bench-overload-") as tmp,
        tempfile.TemporaryDirectory(prefix="slo-bench-audit-", dir=shm) as audit,
    ):
        proc, port = _start(tree, Path(tmp), Path(audit), cpu_ms, *extra)
        try:
            capacity = asyncio.run(closed_loop_capacity(port, transaction, 8, 3.0))
            before, queue, stop = _nstat(), [0], threading.Event()
            sampler = threading.Thread(target=_accept_queue, args=(port, stop, queue))
            sampler.start()
            out = asyncio.run(open_loop(port, transaction, 3 * capacity, seconds))
            stop.set()
            sampler.join()
            after = _nstat()
        finally:
            proc.terminate()
            proc.wait(30)
    answered = sum(len(v) for v in out.latencies.values())
    return {
        "capacity": capacity,
        "admitted_p50_ms": out.median(200) * 1e3,
        "admitted_p99_ms": out.quantile(200, 0.99) * 1e3,
        "shed_p50_ms": out.median(503) * 1e3,
        "shed_p99_ms": out.quantile(503, 0.99) * 1e3,
        "shed_over_admitted": out.median(503) / out.median(200),
        "send_lag_p50_ms": out.lag_quantile(0.5) * 1e3,
        "send_lag_p99_ms": out.lag_quantile(0.99) * 1e3,
        "new_connection_p99_ms": out.new_connection_quantile(0.99) * 1e3,
        "over_1s_pct": 100.0 * out.over(1.0) / max(1, answered),
        "connections": out.connections,
        "accept_queue_max": max(queue),
        **{k.removeprefix("TcpExt"): after.get(k, 0) - before.get(k, 0) for k in _COUNTERS},
    }


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _closed(port: int, request: bytes, n: int, conns: int = 4) -> list[float]:
    """``n`` requests, closed loop on ``conns`` keep-alive connections; round trips (s)."""
    times: list[float] = []

    async def client(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(k):
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                times.append(time.perf_counter() - t0)
        finally:
            writer.close()

    await asyncio.gather(*(client(n // conns) for _ in range(conns)))
    return times


def _shed_cost(tree: Path, n: int, *extra: str) -> dict[str, float]:
    """CPU per 503 and per liveness GET of a service held at its limit (see module doc)."""
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with (
        tempfile.TemporaryDirectory(prefix="slo-bench-shed-") as tmp,
        tempfile.TemporaryDirectory(prefix="slo-bench-audit-", dir=shm) as audit,
    ):
        proc, port = _start(
            tree, Path(tmp), Path(audit), 0.0, "--max-in-flight", "1",
            "--debug-handler-delay-ms", "60000", *extra,
        )  # fmt: skip
        try:
            return asyncio.run(_held_at_limit(proc.pid, port, n))
        finally:
            proc.kill()
            proc.wait(30)


async def _held_at_limit(pid: int, port: int, n: int) -> dict[str, float]:
    body = json.dumps(transaction()).encode()
    score = (
        f"POST /v1/score HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    live = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n"
    _r, parked = await asyncio.open_connection("127.0.0.1", port)
    parked.write(score)  # admitted, then held in the handler: the limit (1) is reached
    await asyncio.sleep(0.5)
    await _closed(port, score, 200)  # warm-up
    out: dict[str, float] = {}
    for name, request in (("shed", score), ("live", live)):
        c0 = _cpu_s(pid)
        times = await _closed(port, request, n)
        out[f"{name}_cpu_us"] = (_cpu_s(pid) - c0) / len(times) * 1e6
        out[f"{name}_rtt_ms"] = statistics.median(times) * 1e3
    parked.close()
    return out


ROWS = (
    ("capacity", "capacity (closed loop), req/s", "{:.0f}"),
    ("admitted_p50_ms", "admitted p50, ms (client, from intended send)", "{:.1f}"),
    ("admitted_p99_ms", "admitted p99, ms", "{:.1f}"),
    ("shed_p50_ms", "503 p50, ms (client)", "{:.1f}"),
    ("shed_p99_ms", "503 p99, ms", "{:.1f}"),
    ("shed_over_admitted", "503 / admitted, client-side medians", "{:.2f}"),
    ("send_lag_p50_ms", "load source's own send lag p50, ms (in every latency above)", "{:.1f}"),
    ("send_lag_p99_ms", "load source's own send lag p99, ms", "{:.1f}"),
    ("new_connection_p99_ms", "p99 on newly opened connections, ms", "{:.1f}"),
    ("over_1s_pct", "answers slower than 1 s, %", "{:.2f}"),
    ("connections", "connections the source had to open", "{:.0f}"),
    ("accept_queue_max", "accept queue, max (ss Recv-Q)", "{:.0f}"),
    ("ListenOverflows", "ListenOverflows", "{:.0f}"),
    ("ListenDrops", "ListenDrops", "{:.0f}"),
    ("TCPSynRetrans", "TCPSynRetrans", "{:.0f}"),
    ("shed_cpu_us", "CPU per 503 at the limit, us (service process, user + sys)", "{:.0f}"),
    ("live_cpu_us", "CPU per GET /v2/health/live, us (for scale)", "{:.0f}"),
    ("shed_rtt_ms", "503 round trip at the limit, closed loop, median ms", "{:.2f}"),
    ("live_rtt_ms", "GET /v2/health/live round trip, median ms", "{:.2f}"),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="git ref of the tree to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--cpu-ms", type=float, default=4.0)
    ap.add_argument("--shed-requests", type=int, default=4000)
    ap.add_argument("--before-args", default="", help="extra service flags, before tree")
    ap.add_argument("--after-args", default="", help="extra service flags, working tree")
    args = ap.parse_args()
    extra = {"before": args.before_args.split(), "after": args.after_args.split()}
    if os.geteuid() == 0 and not os.environ.get("SLO_BENCH_NETNS"):
        cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]
        env = {**os.environ, "SLO_BENCH_NETNS": "1"}
        return subprocess.run([*cmd, sys.executable, *sys.argv], env=env).returncode
    with tempfile.TemporaryDirectory(prefix="slo-bench-before-") as tmp:
        before = Path(tmp)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.before, "reference_service"],
            capture_output=True, check=True,
        )  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
        trees = {"before": before, "after": ROOT}
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
        load = [os.getloadavg()[0]]
        for r in range(args.rounds):
            for name, tree in trees.items():
                flags = extra[name]
                one = _one(tree, args.cpu_ms, args.seconds, *flags) if args.seconds > 0 else {}
                runs[name].append({**one, **_shed_cost(tree, args.shed_requests, *flags)})
                print(f"round {r + 1} {name}: {json.dumps(runs[name][-1])}", file=sys.stderr)
        load.append(os.getloadavg()[0])
    print(f"\nbefore = {args.before} {args.before_args}, after = working tree "
          f"{args.after_args}; {args.cpu_ms:g} ms CPU per request, "
          f"3x capacity for {args.seconds:g} s, medians of {args.rounds} rounds; load average "
          f"{load[0]:.1f} at start, {load[1]:.1f} at end (2 cores)\n")  # fmt: skip
    print("| measure | before | after |")
    print("|---|---:|---:|")
    for key, label, fmt in ROWS:
        if key not in runs["before"][0]:
            continue
        b = statistics.median(x[key] for x in runs["before"])
        a = statistics.median(x[key] for x in runs["after"])
        print(f"| {label} | {fmt.format(b)} | {fmt.format(a)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
