"""How fast ``slo-harness audit replay`` re-derives decisions: records per second.

Writes a trail of ``--records`` decisions through the service's own pipeline (in-process, real
ONNX model, durable audit, two streams as two service workers write them; the test suite's
driver ``reference_service.testing.drive``, 10% of cards on a stalled feature store), then
times, interleaved over ``--repeats`` (medians; the
machine is shared, so the load average is printed):

* ``verify``: the chain check alone (``verify_directory``: HMAC, members, links, PAN scan);
* ``replay``: verify + decode + batch ONNX scoring + decision and reason-code comparison;
* ``replay --skip-pan-scan``: the same with every chain check but without the PAN scan;
* ``--jobs 2``: the two streams of the trail in two processes (spawn start-up included);
* ``scoring``: ONNX alone on the same vectors, batches of 4,096 against batch 1;
* ``PAN scan``: the verifier's PAN rules alone per line, the reference rules against the gated
  scan (``harness/audit/pan_gate.py``), which gives the same answers;
* ``--before REF``: ``audit replay`` with and without the PAN scan as the tree at REF does it
  (``git archive`` of its ``harness/``, run in a child process with that tree first on
  ``PYTHONPATH``), against the current tree in the same kind of child, interleaved round by round:
  the ratio is the speed-up, measured under the same load. The children also report records
  per CPU-second of their own process (``time.process_time``): on a machine shared with other
  jobs that is what one core would replay if it were free, while records/s is what this run got.

    .venv/bin/python benchmarks/bench_replay.py [--records 20000] [--repeats 3] [--json PATH] \
        [--before REF] [--trail DIR]   (DIR: write the trail there once, reuse it afterwards)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.audit import (
    Thresholds,
    default_model_file,
    open_model,
    replay_directory,
    verify_directory,
)
from harness.audit.pan_gate import pan_column as _pan_column
from harness.audit.pan_gate import pan_column_reference as _pan_column_reference
from harness.files import atomic_write_bytes
from reference_service.testing import AUDIT_KEY, THRESHOLDS, drive

ROOT = Path(__file__).resolve().parent.parent
#: Run in a child process against a tree on PYTHONPATH: replay rates with and without PAN scan.
_CHILD = r"""
import json, sys, time
from pathlib import Path
from harness.audit import Thresholds, default_model_file, open_model, replay_directory
trail, key, version, review, decline = sys.argv[1:6]
model = open_model(default_model_file())
th = Thresholds(version=version, review=float(review), decline=float(decline))
rates = {}
for scan in (True, False):
    t0, c0 = time.perf_counter(), time.process_time()
    report = replay_directory(Path(trail), bytes.fromhex(key), [model], [th], scan_pans=scan)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert report.ok, report.mismatches[:3]
    rates["pan" if scan else "nopan"] = report.replayed / elapsed
    rates["pan_cpu" if scan else "nopan_cpu"] = report.replayed / cpu
print(json.dumps(rates))
"""


def _child_rates(tree: Path, trail: Path, th: Thresholds) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-c", _CHILD, str(trail), AUDIT_KEY.hex(), th.version,
            str(th.review), str(th.decline)]  # fmt: skip
    out = subprocess.run(argv, env=env, capture_output=True, check=True, text=True, cwd=tree)
    rates: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return rates


def _before_tree(ref: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "harness"], capture_output=True, check=True
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


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
    ap.add_argument("--before", default=None, help="git ref to compare replay against")
    ap.add_argument("--trail", type=Path, default=None,
                    help="write the trail here, or reuse the one already here")  # fmt: skip
    args = ap.parse_args()
    model_file = default_model_file()
    if model_file is None:
        raise SystemExit("the reference service's model is not installed")
    model = open_model(model_file)
    th = Thresholds(version=THRESHOLDS.version, review=THRESHOLDS.review, decline=0.2)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        trail = args.trail if args.trail is not None else Path(tmp) / "audit"
        if not any(trail.glob("audit-*.jsonl")):
            half = args.records // 2  # two streams, as two service workers write them
            drive(trail, half, stream_id="w1-bench")
            drive(trail, args.records - half, stream_id="w2-bench", seed=15)
        x = _vectors(trail)
        times: dict[str, list[float]] = {
            "verify": [], "replay": [], "replay_nopan": [], "replay_nopan_jobs2": [], "batch": [],
            "batch1": [], "scan_reference": [], "scan_gated": [],
        }  # fmt: skip
        lines = [ln for p in sorted(trail.glob("*.jsonl")) for ln in p.read_bytes().splitlines()]
        before: dict[str, list[float]] = {"pan": [], "nopan": [], "pan_cpu": [], "nopan_cpu": []}
        after: dict[str, list[float]] = {"pan": [], "nopan": [], "pan_cpu": [], "nopan_cpu": []}
        before_tree = None
        if args.before is not None:
            before_tree = _before_tree(args.before, Path(tmp) / "before")
        n1 = min(2000, len(x))
        for _ in range(args.repeats):
            if before_tree is not None:  # interleaved: before, after, in children alike
                for name, rate in _child_rates(before_tree, trail, th).items():
                    before[name].append(rate)
                for name, rate in _child_rates(ROOT, trail, th).items():
                    after[name].append(rate)
            t0 = time.perf_counter()
            assert all(_pan_column_reference(ln) is None for ln in lines)
            times["scan_reference"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            assert all(_pan_column(ln) is None for ln in lines)
            times["scan_gated"].append(time.perf_counter() - t0)
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
        "PAN scan, reference rules (lines/s)": len(lines)
        / statistics.median(times["scan_reference"]),
        "PAN scan, gated (lines/s)": len(lines) / statistics.median(times["scan_gated"]),
    }
    compare = {}
    if args.before is not None:
        labels = {
            "pan": "replay, records/s",
            "nopan": "replay --skip-pan-scan, records/s",
            "pan_cpu": "replay, records per CPU-second",
            "nopan_cpu": "replay --skip-pan-scan, records per CPU-second",
        }
        for name, label in labels.items():
            b, a = statistics.median(before[name]), statistics.median(after[name])
            compare[label] = {"before": b, "after": a, "ratio": a / b}
    load_end = os.getloadavg()
    print(f"{len(x)} records, median of {args.repeats}; load average {load_start[0]:.2f} at "
          f"start, {load_end[0]:.2f} at end (2 cores)")  # fmt: skip
    print("| stage | records/s |\n|---|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} |")
    if compare:
        print(f"\nbefore = {args.before}, after = this tree; child processes, interleaved")
        print("| measure | before | after | ratio |\n|---|---:|---:|---:|")
        for label, c in compare.items():
            print(f"| {label} | {c['before']:,.0f} | {c['after']:,.0f} | {c['ratio']:.2f} |")
    if args.json is not None:
        doc = {"benchmark": "audit_replay", "records": len(x), "records_per_s": rates,
               "before_after": compare, "load_average": [load_start[0], load_end[0]]}  # fmt: skip
        atomic_write_bytes(args.json, (json.dumps(doc, indent=2) + "\n").encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
