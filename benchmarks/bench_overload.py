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


def _start(
    tree: Path, work: Path, audit: Path, cpu_ms: float
) -> tuple[subprocess.Popen[bytes], int]:
    log = work / "service.log"
    args = [sys.executable, "-m", "reference_service", "--port", "0"]
    args += ["--audit-dir", str(audit)]  # tmpfs: this is about CPU overload, not fsync
    args += ["--pan-key-file", str(write_key(work / "pan.key"))]
    args += ["--audit-key-file", str(write_key(work / "audit.key"))]
    args += ["--debug-handler-cpu-ms", str(cpu_ms)]
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


def _one(tree: Path, cpu_ms: float, seconds: float) -> dict[str, Any]:
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with (
        tempfile.TemporaryDirectory(prefix="slo-bench-overload-") as tmp,
        tempfile.TemporaryDirectory(prefix="slo-bench-audit-", dir=shm) as audit,
    ):
        proc, port = _start(tree, Path(tmp), Path(audit), cpu_ms)
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
        "new_connection_p99_ms": out.new_connection_quantile(0.99) * 1e3,
        "over_1s_pct": 100.0 * out.over(1.0) / max(1, answered),
        "connections": out.connections,
        "accept_queue_max": max(queue),
        **{k.removeprefix("TcpExt"): after.get(k, 0) - before.get(k, 0) for k in _COUNTERS},
    }


ROWS = (
    ("capacity", "capacity (closed loop), req/s", "{:.0f}"),
    ("admitted_p50_ms", "admitted p50, ms (client, from intended send)", "{:.1f}"),
    ("admitted_p99_ms", "admitted p99, ms", "{:.1f}"),
    ("shed_p50_ms", "503 p50, ms (client)", "{:.1f}"),
    ("shed_p99_ms", "503 p99, ms", "{:.1f}"),
    ("new_connection_p99_ms", "p99 on newly opened connections, ms", "{:.1f}"),
    ("over_1s_pct", "answers slower than 1 s, %", "{:.2f}"),
    ("connections", "connections the source had to open", "{:.0f}"),
    ("accept_queue_max", "accept queue, max (ss Recv-Q)", "{:.0f}"),
    ("ListenOverflows", "ListenOverflows", "{:.0f}"),
    ("ListenDrops", "ListenDrops", "{:.0f}"),
    ("TCPSynRetrans", "TCPSynRetrans", "{:.0f}"),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, help="git ref of the tree to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--cpu-ms", type=float, default=4.0)
    args = ap.parse_args()
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
                runs[name].append(_one(tree, args.cpu_ms, args.seconds))
                print(f"round {r + 1} {name}: {json.dumps(runs[name][-1])}", file=sys.stderr)
        load.append(os.getloadavg()[0])
    print(f"\nbefore = {args.before}, after = working tree; {args.cpu_ms:g} ms CPU per request, "
          f"3x capacity for {args.seconds:g} s, medians of {args.rounds} rounds; load average "
          f"{load[0]:.1f} at start, {load[1]:.1f} at end (2 cores)\n")  # fmt: skip
    print("| measure | before | after |")
    print("|---|---:|---:|")
    for key, label, fmt in ROWS:
        b = statistics.median(x[key] for x in runs["before"])
        a = statistics.median(x[key] for x in runs["after"])
        print(f"| {label} | {fmt.format(b)} | {fmt.format(a)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
