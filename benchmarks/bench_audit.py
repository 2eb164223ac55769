"""Audit trail append throughput and latency: what durability costs the service per request.

Run ``python benchmarks/bench_audit.py``. For 1, 16 and 64 concurrent appenders (asyncio tasks on
one event loop, as requests in one uvicorn worker), each appending back to back, it measures
records/s and the per-append latency (enqueue to durable, ``perf_counter_ns``) with real files
and real fsync in a temporary directory (``--dir`` picks the filesystem: use the one the service
writes to). Configurations run in the same process, interleaved per repeat, and the reported figure
is the median over repeats, because this 2-core shared machine is noisy:

* ``durable`` - the default (group commit, batch delay 2 ms when appenders are concurrent);
* ``durable-nodelay`` - group commit without the extra wait (batches form only during fsync);
* ``async`` - no durability wait at all (the upper bound).

Prints a Markdown table and, with ``--json PATH``, writes the numbers atomically.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from harness.files import atomic_write_bytes
from reference_service.audit import AuditMode, AuditRecord, AuditTrail, utc_timestamp

KEY = bytes(range(32))
CONFIGS: dict[str, tuple[AuditMode, float]] = {
    "durable": (AuditMode.DURABLE, 0.002),
    "durable-nodelay": (AuditMode.DURABLE, 0.0),
    "async": (AuditMode.ASYNC, 0.002),
}


@dataclass(frozen=True, slots=True)
class Result:
    """Median over repeats for one (config, concurrency)."""

    config: str
    concurrency: int
    records_per_s: float
    p50_ms: float
    p99_ms: float
    mean_batch: float
    records_per_repeat: int
    repeats: int


#: A typical model input (15 float32 features, two of them missing), as the service records it.
_VECTOR = np.array([4.2, 1, 0, 1, 1, 0, 13, 14, np.nan, np.nan, 2, 7, 3.1, 5.6, 0.4], dtype="<f4")
_VECTOR_BYTES = _VECTOR.tobytes()


def _record(i: int) -> AuditRecord:
    return AuditRecord(
        ts=utc_timestamp(),
        request_id=f"req-{i:08x}",
        transaction_id=f"txn-{i}",
        card_token="ct_dGhpcyBpcyBub3QgYSByZWFsIHRva2VuIGF0IGFsbA",
        last4="4242",
        model_version="gbt-100x4",
        model_sha256="ab" * 32,
        feature_hash=hashlib.sha256(_VECTOR_BYTES).hexdigest(),
        score=0.0123456789,
        decision="approve",
        thresholds_version="default-1",
        reason_codes=("LOW_RISK",),
        degraded=False,
        latency_ms=0.123,
        features=_VECTOR_BYTES,
        feature_schema="fraud-features-1",
        missing_features=("account_age_days", "device_known"),
    )


async def _run_once(
    directory: Path, mode: AuditMode, delay: float, concurrency: int, total: int
) -> tuple[float, np.ndarray, float]:
    """(records/s, latencies in ms, mean batch size) for one run of ``total`` appends."""
    batches: list[int] = []
    trail = AuditTrail(
        directory,
        KEY,
        mode=mode,
        max_batch_delay_s=delay,
        on_fsync=lambda _s, n: batches.append(n),
    )
    await trail.start()
    per_task = total // concurrency
    lat = np.empty(per_task * concurrency, dtype=np.float64)
    records = [_record(i) for i in range(per_task * concurrency)]
    clock = time.perf_counter_ns

    async def appender(k: int) -> None:
        for j in range(per_task):
            idx = k * per_task + j
            t0 = clock()
            await trail.append(records[idx])
            lat[idx] = clock() - t0

    t_start = time.perf_counter()
    await asyncio.gather(*(appender(k) for k in range(concurrency)))
    await trail.close()  # ASYNC throughput includes the final flush: records on disk per second
    elapsed = time.perf_counter() - t_start
    return len(lat) / elapsed, lat / 1e6, float(np.mean(batches)) if batches else 0.0


def measure(
    base: Path, concurrencies: list[int], total: int, repeats: int, deadline: float
) -> list[Result]:
    """Interleave configs and concurrencies per repeat; median over repeats."""
    raw: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
    for rep in range(repeats):
        for conc in concurrencies:
            for name, (mode, delay) in CONFIGS.items():
                if time.monotonic() > deadline:
                    raise SystemExit("bench_audit: time budget exhausted")
                run_dir = base / f"{name}-{conc}-{rep}"
                rps, lat, batch = asyncio.run(_run_once(run_dir, mode, delay, conc, total))
                p50, p99 = np.percentile(lat, [50, 99])
                raw.setdefault((name, conc), []).append((rps, float(p50), float(p99), batch))
    out: list[Result] = []
    for (name, conc), rows in raw.items():
        out.append(
            Result(
                config=name,
                concurrency=conc,
                records_per_s=statistics.median(r[0] for r in rows),
                p50_ms=statistics.median(r[1] for r in rows),
                p99_ms=statistics.median(r[2] for r in rows),
                mean_batch=statistics.median(r[3] for r in rows),
                records_per_repeat=total // conc * conc,
                repeats=len(rows),
            )
        )
    return sorted(out, key=lambda r: (r.concurrency, list(CONFIGS).index(r.config)))


def _table(results: list[Result]) -> str:
    head = (
        "| appenders | config | records/s | p50 ms | p99 ms | mean batch |\n"
        "|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r.concurrency} | {r.config} | {r.records_per_s:,.0f} | {r.p50_ms:.3f} "
        f"| {r.p99_ms:.3f} | {r.mean_batch:.1f} |"
        for r in results
    ]
    return "\n".join([head, *rows])


def _write_json(path: Path, results: list[Result]) -> None:
    doc = {"benchmark": "audit_append", "results": [asdict(r) for r in results]}
    atomic_write_bytes(path, (json.dumps(doc, indent=2) + "\n").encode(), mode=0o644)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=4000, help="appends per run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary trail")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="overall time budget")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.records < max(args.concurrency) or args.repeats < 1:
        parser.error("--records must be >= the largest concurrency and --repeats >= 1")
    try:
        import uvloop  # the service runs on uvloop; measure on the same loop

        uvloop.install()
    except ImportError:
        pass
    deadline = time.monotonic() + args.max_seconds
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-audit-") as tmp:
        results = measure(Path(tmp), args.concurrency, args.records, args.repeats, deadline)
    print(f"audit append, {args.records} records/run, median of {args.repeats} repeats")
    print(_table(results))
    if args.json is not None:
        _write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
