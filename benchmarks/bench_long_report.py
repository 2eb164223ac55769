"""Time and peak memory to build the report of a long run from its interval log (issue 11).

A synthetic interval log at 1,000 req/s is written directly (no load is run, nothing waits a day):
one soak phase, ``--hours`` of 1 s intervals, each with 1,000 OK responses whose intended-clock
and service-time histograms are drawn from lognormal latencies with a 2% slow tail (64 distinct
templates cycled, so every line has a realistic size). Then ``slo-harness report rebuild`` builds
the whole report family from it in a fresh child process, whose wall time and peak RSS
(``ru_maxrss`` of the child) are reported with the sizes of latency.hlog, report.json and
report.html.

Run: ``python benchmarks/bench_long_report.py --hours 24`` (the issue's figure; targets: < 60 s,
< 500 MB peak, report.html < 5 MB). Shorter runs (``--hours 1``) show how it scales.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.measure import IntervalRecord, LatencyHistogram, RequestCounts, log_meta
from harness.measure.hlog import END_LINE, header_lines, run_line, slice_lines
from harness.measure.phase import PhaseMeta
from harness.measure.result import PhaseKind, ScenarioRef, TargetInfo

RATE = 1_000
TEMPLATES = 64
START_WALL_S = 1_700_000_000.0


def _templates(rng: np.random.Generator) -> list[tuple[LatencyHistogram, LatencyHistogram]]:
    out = []
    for _ in range(TEMPLATES):
        service = rng.lognormal(np.log(4_000), 0.5, RATE).astype(np.int64)
        service[rng.random(RATE) < 0.02] *= 10
        intended = service + rng.exponential(200, RATE).astype(np.int64)
        pair = (LatencyHistogram(), LatencyHistogram())
        for v in intended.tolist():
            pair[0].record(v)
        for v in service.tolist():
            pair[1].record(v)
        out.append(pair)
    return out


def write_log(path: Path, hours: float) -> int:
    """The synthetic log; returns the number of intervals."""
    seconds = round(hours * 3600)
    phase = PhaseMeta("soak", PhaseKind.SOAK, True, 0.0, float(seconds), float(RATE))
    ref = ScenarioRef("soak", "scenarios/soak.yaml", "00" * 32)
    meta = log_meta(ref, TargetInfo("http://127.0.0.1:8080", True), [phase], 1.0)
    templates = _templates(np.random.default_rng(0))
    counts = RequestCounts(sent=RATE, ok=RATE)
    # Encode each template once: the same text a writer would produce for that histogram.
    with path.open("w", encoding="utf-8") as out:
        out.write("\n".join([*header_lines(START_WALL_S), run_line(meta)]) + "\n")
        for second in range(seconds):
            latency, service = templates[second % TEMPLATES]
            rec = IntervalRecord(float(second), 1.0, "soak", RATE, counts, latency, service)
            out.write("\n".join(slice_lines([rec])) + "\n")
        out.write(END_LINE + "\n")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--keep", type=Path, help="build in this directory (kept)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-long-report-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    n = write_log(work / "latency.partial.hlog", args.hours)
    gen_s = time.perf_counter() - t0
    log_mb = (work / "latency.partial.hlog").stat().st_size / 1e6
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "rebuild", str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    build_s = time.perf_counter() - t0
    peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    if proc.returncode != 3:  # a rebuilt run is INVALID by design (exit 3); anything else failed
        sys.exit(f"rebuild failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    sizes = {
        name: (work / name).stat().st_size / 1e6
        for name in ("latency.hlog", "report.json", "report.html", "windows.csv")
    }
    print(
        json.dumps(
            {
                "hours": args.hours,
                "intervals": n,
                "rate_rps": RATE,
                "log_write_s": round(gen_s, 1),
                "log_mb": round(log_mb, 1),
                "report_build_s": round(build_s, 1),
                "report_build_peak_rss_mb": round(peak_mb, 1),
                "sizes_mb": {k: round(v, 2) for k, v in sizes.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
