"""How fast ``slo-harness audit replay`` re-derives decisions: records per second.

Writes a trail of ``--records`` decisions through the service's own pipeline (in-process, real
ONNX model, durable audit, two streams as two service workers write them; the test suite's
driver ``tests/audit_replay/replay_support.py``, 10% of cards on a stalled feature store), then
times, interleaved over ``--repeats`` (medians; the
machine is shared, so the load average is printed):

* ``verify``: the chain check alone (``verify_directory``: HMAC, members, links, PAN scan);
* ``replay``: verify + decode + batch ONNX scoring + decision and reason-code comparison;
* ``replay --skip-pan-scan``: the same with every chain check but without the PAN scan;
* ``--jobs 2``: the two streams of the trail in two processes (spawn start-up included);
* ``scoring``: ONNX alone on the same vectors, batches of 4,096 against batch 1.

    .venv/bin/python benchmarks/bench_replay.py [--records 20000] [--repeats 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "audit_replay"))

from replay_support import AUDIT_KEY, THRESHOLDS, drive

from harness.audit import (
    Thresholds,
    default_model_file,
    open_model,
    replay_directory,
    verify_directory,
)
from harness.files import atomic_write_bytes


def _vectors(directory: Path) -> np.ndarray:
    import base64

    rows = [
        base64.b64decode(json.loads(line)["features"])
        for p in sorted(directory.glob("*.jsonl"))
        for line in p.read_bytes().splitlines()
    ]
    return np.frombuffer(b"".join(rows), dtype="<f4").reshape(len(rows), -1).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    model_file = default_model_file()
    if model_file is None:
        raise SystemExit("the reference service's model is not installed")
    model = open_model(model_file)
    th = Thresholds(version=THRESHOLDS.version, review=THRESHOLDS.review, decline=0.2)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        trail = Path(tmp) / "audit"
        half = args.records // 2  # two streams, as two service workers write them
        drive(trail, half, stream_id="w1-bench")
        drive(trail, args.records - half, stream_id="w2-bench", seed=15)
        x = _vectors(trail)
        times: dict[str, list[float]] = {
            "verify": [], "replay": [], "replay_nopan": [], "replay_nopan_jobs2": [], "batch": [],
            "batch1": []
        }  # fmt: skip
        n1 = min(2000, len(x))
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            assert verify_directory(trail, AUDIT_KEY).ok
            times["verify"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            report = replay_directory(trail, AUDIT_KEY, [model], [th])
            times["replay"].append(time.perf_counter() - t0)
            assert report.ok, report.mismatches[:3]
            t0 = time.perf_counter()
            assert replay_directory(trail, AUDIT_KEY, [model], [th], scan_pans=False).ok
            times["replay_nopan"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert replay_directory(trail, AUDIT_KEY, [model], [th], scan_pans=False, jobs=2).ok
            times["replay_nopan_jobs2"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(0, len(x), 4096):
                model.score(x[i : i + 4096])
            times["batch"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(n1):
                model.score(x[i : i + 1])
            times["batch1"].append(time.perf_counter() - t0)
    rates = {
        "verify": len(x) / statistics.median(times["verify"]),
        "replay": len(x) / statistics.median(times["replay"]),
        "replay --skip-pan-scan": len(x) / statistics.median(times["replay_nopan"]),
        "replay --skip-pan-scan --jobs 2": len(x) / statistics.median(times["replay_nopan_jobs2"]),
        "scoring_batch_4096": len(x) / statistics.median(times["batch"]),
        "scoring_batch_1": n1 / statistics.median(times["batch1"]),
    }
    load_end = os.getloadavg()
    print(f"{len(x)} records, median of {args.repeats}; load average {load_start[0]:.2f} at "
          f"start, {load_end[0]:.2f} at end (2 cores)")  # fmt: skip
    print("| stage | records/s |\n|---|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} |")
    if args.json is not None:
        doc = {"benchmark": "audit_replay", "records": len(x), "records_per_s": rates,
               "load_average": [load_start[0], load_end[0]]}  # fmt: skip
        atomic_write_bytes(args.json, (json.dumps(doc, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
