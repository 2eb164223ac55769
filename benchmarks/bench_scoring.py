"""In-process scoring latency: feature encoding + ONNX Runtime, batch 1, as on the request path.

Issue 2 target: p50 <= 100 us. Run ``python benchmarks/bench_scoring.py``. Every call is timed on
its own (``perf_counter_ns``) over synthetic transactions (about 5% degraded rows, as generated);
each repeat yields a p50/p99, and the reported figure is the median over repeats, because this
2-core shared machine is noisy. The stages (encode alone, ONNX alone) are measured in the same run
so their ratios are comparable. Prints Markdown table rows for the README and, with
``--json PATH``, writes the numbers (atomically) for tooling. Exit 1 if ``--check`` and the p50
target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime

from harness.files import atomic_write_bytes
from reference_service.model.features import N_FEATURES, RawFeatures, encode
from reference_service.model.generator import generate
from reference_service.model.scorer import OnnxScorer

P50_TARGET_US = 100.0


@dataclass(frozen=True, slots=True)
class StageResult:
    """Median over repeats of each repeat's p50/p99/p99.9, in microseconds."""

    stage: str
    p50_us: float
    p99_us: float
    p999_us: float
    calls_per_repeat: int
    repeats: int


def _time_calls(fn: Callable[[int], object], calls: int) -> np.ndarray:
    """Latency of each of ``calls`` invocations ``fn(i)``, in microseconds."""
    out = np.empty(calls, dtype=np.float64)
    clock = time.perf_counter_ns
    for i in range(calls):
        t0 = clock()
        fn(i)
        out[i] = clock() - t0
    return out / 1000.0


def _measure(stage: str, fn: Callable[[int], object], calls: int, repeats: int) -> StageResult:
    p50s, p99s, p999s = [], [], []
    for _ in range(repeats):
        lat = _time_calls(fn, calls)
        p50, p99, p999 = np.percentile(lat, [50, 99, 99.9])
        p50s.append(float(p50))
        p99s.append(float(p99))
        p999s.append(float(p999))
    return StageResult(
        stage=stage,
        p50_us=statistics.median(p50s),
        p99_us=statistics.median(p99s),
        p999_us=statistics.median(p999s),
        calls_per_repeat=calls,
        repeats=repeats,
    )


def run(calls: int = 20_000, repeats: int = 7, seed: int = 99) -> list[StageResult]:
    """Measure encode, ONNX run and both together; returns one result per stage."""
    scorer = OnnxScorer.load()
    scorer.warm()
    rows: Sequence[RawFeatures] = generate(calls, seed).rows
    buf = np.empty((1, N_FEATURES), dtype=np.float32)  # one preallocated row, as a worker holds
    vec = buf[0]
    vectors = np.stack([encode(r) for r in rows])[:, None, :]

    def encode_only(i: int) -> object:
        return encode(rows[i], out=vec)

    def onnx_only(i: int) -> object:
        return scorer.score(vectors[i])

    def encode_and_score(i: int) -> object:
        encode(rows[i], out=vec)
        return float(scorer.score(buf)[0])

    _time_calls(encode_and_score, min(calls, 1000))  # settle caches and branch predictors
    return [
        _measure("encode", encode_only, calls, repeats),
        _measure("onnx", onnx_only, calls, repeats),
        _measure("encode+onnx", encode_and_score, calls, repeats),
    ]


def markdown(results: Sequence[StageResult]) -> str:
    lines = [
        "| In-process scoring (batch 1) | p50 (us) | p99 (us) | p99.9 (us) |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.stage} | {r.p50_us:.1f} | {r.p99_us:.1f} | {r.p999_us:.1f} |")
    return "\n".join(lines)


def _write_json(path: Path, results: Sequence[StageResult]) -> None:
    doc = {
        "benchmark": "bench_scoring",
        "p50_target_us": P50_TARGET_US,
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "cpus": os.cpu_count(),
        "results": [asdict(r) for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(doc, indent=2).encode(), mode=0o644)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="In-process scoring latency (encode + ONNX).")
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls per repeat")
    parser.add_argument("--repeats", type=int, default=7, help="repeats (median reported)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--check", action="store_true", help="exit 1 if p50 misses the target")
    args = parser.parse_args(argv)
    if args.calls < 100 or args.repeats < 1:
        parser.error("--calls must be >= 100 and --repeats >= 1")
    results = run(args.calls, args.repeats)
    print(markdown(results))
    total = results[-1]
    verdict = "meets" if total.p50_us <= P50_TARGET_US else "MISSES"
    print(f"\nencode+onnx p50 {total.p50_us:.1f} us {verdict} the {P50_TARGET_US:.0f} us target")
    if args.json is not None:
        _write_json(args.json, results)
    return 1 if args.check and total.p50_us > P50_TARGET_US else 0


if __name__ == "__main__":
    sys.exit(main())
