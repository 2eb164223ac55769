"""Throughput and latency of the reference service: one worker on one core, durable audit.

Starts ``python -m reference_service`` pinned to one core with ``taskset`` (durable audit,
in-process feature store, key files in a temp dir), drives ``POST /v1/score`` with wrk pinned to
the other core (closed model: ``-c`` connections, each sends its next request when the previous
answer arrives), and prints Markdown rows for the README. Request bodies come from
``benchmarks/score_tokens.lua`` and carry card tokens, never PANs.

Also measures the in-process decision path without HTTP (decode, tokenise, features, ONNX score,
decide, encode; no audit) as a per-call median.

Closed-model numbers at saturation are *throughput* numbers: their p99 is queueing in front of a
saturated worker, not the latency at a given offered rate (the harness measures that, open model).
The machine is noisy: run it two or three times and quote medians. Each row also gives the CPU
time the service's processes used during the wrk run (psutil, the whole process tree) and
*requests per CPU-second*: on a shared machine the pinned core is not the service's alone, and
requests per CPU-second is what one core would serve if it were (the per-core target's unit);
``--repeats N`` runs every connection count N times, interleaved, and prints medians.

    .venv/bin/python benchmarks/bench_service.py [--duration 10] [--connections 16,32,64]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
LUA = HERE / "score_tokens.lua"
SERVICE_CPU = "0"
LOADGEN_CPU = "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(base + "/v2/health/ready", timeout=1) as r,
        ):
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("service did not become ready")


def _start_service(work: Path, port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    for name in ("pan.key", "audit.key"):
        (work / name).write_text(secrets.token_hex(32))
    cmd = [
        "taskset", "-c", SERVICE_CPU,
        sys.executable, "-m", "reference_service",
        "--port", str(port),
        "--audit-dir", str(work / "audit"),
        "--audit-mode", "durable",
        "--pan-key-file", str(work / "pan.key"),
        "--audit-key-file", str(work / "audit.key"),
        "--log-level", "warning",
        *extra,
    ]  # fmt: skip
    log = (work / "service.log").open("wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def _wrk(base: str, connections: int, duration_s: int) -> dict[str, float]:
    cmd = [
        "taskset", "-c", LOADGEN_CPU, "wrk", "-t1", f"-c{connections}", f"-d{duration_s}s",
        "--timeout", "5s", "-s", str(LUA), base,
    ]  # fmt: skip
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration_s + 30, check=True
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    data: dict[str, float] = json.loads(line.removeprefix("WRK_JSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (the launcher and its worker)."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return total
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def _audit_records(audit_dir: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in audit_dir.glob("*.jsonl"))


def bench_http(
    duration_s: int, conn_list: list[int], extra: list[str], repeats: int = 1
) -> list[str]:
    rows = []
    runs: dict[int, list[dict[str, float]]] = {c: [] for c in conn_list}
    work = Path(tempfile.mkdtemp(prefix="bench-service-"))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start_service(work, port, extra)
    answered = 0
    try:
        _wait_ready(base, proc)
        _wrk(base, 16, 3)  # warm-up: caches, allocator, admission estimate
        answered = _audit_records(work / "audit")
        for _ in range(repeats):
            for c in conn_list:
                cpu0 = _cpu_s(proc.pid)
                r = _wrk(base, c, duration_s)
                r["cpu_s"] = _cpu_s(proc.pid) - cpu0
                ok = r["requests"] - r["errors_status"]
                r["per_cpu_s"] = ok / r["cpu_s"] if r["cpu_s"] > 0 else 0.0
                r["cpu_share"] = r["cpu_s"] / (r["duration_us"] / 1e6)
                answered += int(ok)
                runs[c].append(r)
        for c in conn_list:
            med = {k: statistics.median(r[k] for r in runs[c]) for k in runs[c][0]}
            rows.append(
                f"| 1 worker, 1 core, durable audit, wrk -c{c} | {med['rps']:,.0f} | "
                f"{med['p50_us'] / 1000:.2f} | {med['p99_us'] / 1000:.2f} | "
                f"{med['p999_us'] / 1000:.2f} | {int(med['errors_status'])} | "
                f"{med['cpu_share']:.2f} | {med['per_cpu_s']:,.0f} |"
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    records = _audit_records(work / "audit")
    # wrk stops with requests in flight: those are recorded but never counted as answered.
    print(f"audit records: {records}, 2xx answers counted by wrk: {answered}", file=sys.stderr)
    if records < answered:
        raise SystemExit("fewer audit records than answered decisions: audit trail lost records")
    shutil.rmtree(work, ignore_errors=True)
    return rows


def bench_inprocess(n: int = 20_000) -> str:
    """Median per-call time of the decision path without HTTP and without the audit trail."""
    from reference_service.decision import DEFAULT_THRESHOLDS
    from reference_service.featurestore import BudgetedFeatures, InProcessStore
    from reference_service.model.scorer import OnnxScorer
    from reference_service.pan import PanTokenizer
    from reference_service.pipeline import ScorePipeline

    class NullAudit:
        async def append(self, rec: object) -> None:
            return None

    scorer = OnnxScorer.load()
    scorer.warm(500)
    pipe = ScorePipeline(
        tokenizer=PanTokenizer(os.urandom(32)),
        features=BudgetedFeatures(InProcessStore(), 0.01),
        scorer=scorer,
        thresholds=DEFAULT_THRESHOLDS,
        audit=NullAudit(),  # type: ignore[arg-type]
        on_decision=lambda _: None,
        on_cpu=lambda _: None,
    )
    body = json.dumps(
        {
            "transaction_id": "t",
            "amount": 12.5,
            "currency": "EUR",
            "card_token": "bench_card_0001",
            "merchant_id": "m",
            "merchant_category_code": "5967",
            "merchant_country": "NL",
            "billing_country": "DE",
            "ip_country": "FR",
            "card_present": False,
            "timestamp": "2024-06-01T12:00:00Z",
        }
    ).encode()

    async def run() -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            await pipe.handle(body, "r", t0)
            out.append(time.perf_counter() - t0)
        return out

    times = asyncio.run(run())
    p50 = statistics.median(times) * 1e6
    p99 = sorted(times)[int(len(times) * 0.99)] * 1e6
    what = f"in-process decision path (no HTTP, no audit), {n} calls"
    return f"| {what} | p50 {p50:.0f} us | p99 {p99:.0f} us |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run (1..120)")
    ap.add_argument("--connections", default="16,32,64", help="comma-separated wrk -c values")
    ap.add_argument("--skip-inprocess", action="store_true")
    ap.add_argument("--repeats", type=int, default=1, help="wrk runs per -c value (medians)")
    args, extra = ap.parse_known_args()
    if not 1 <= args.duration <= 120:
        ap.error("--duration must be 1..120")
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            print(f"{tool} not found (apt-get install {tool})", file=sys.stderr)
            return 2
    conns = [int(c) for c in args.connections.split(",")]
    if not args.skip_inprocess:
        print(bench_inprocess())
        print()
    load_start = os.getloadavg()[0]
    print("| setup | requests/s | p50 ms | p99 ms | p99.9 ms | non-2xx | service CPU (cores) "
          "| requests per CPU-second |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in bench_http(args.duration, conns, extra, max(1, args.repeats)):
        print(row, flush=True)
    print(f"load average {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end "
          f"({os.cpu_count()} cores); medians of {max(1, args.repeats)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
