"""Time and peak memory to build the report of a long run from its interval log (issue 11).

A synthetic interval log at 1,000 req/s is written directly (no load is run, nothing waits a day):
one soak phase, ``--hours`` of 1 s intervals, each with 1,000 OK responses whose intended-clock
and service-time histograms are drawn from lognormal latencies with a 2% slow tail (64 distinct
templates cycled, so every line has a realistic size). Then ``slo-harness report rebuild`` builds
the whole report family from it in a fresh child process (the worst case: it also rebuilds the
phase totals, so it decodes the service-time payloads a live run's report never reads), whose
wall time, CPU seconds (user + system: less sensitive than wall time to other work on a shared
machine) and peak RSS (``ru_maxrss`` of the child) are reported with the load average and the
sizes of latency.hlog, report.json, report.html and windows.csv.

Run: ``python benchmarks/bench_long_report.py --hours 24`` (the issue's figure; targets: < 60 s,
< 500 MB peak, report.html < 5 MB). Shorter runs (``--hours 1``) show how it scales.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from harness.measure import IntervalRecord, LatencyHistogram, RequestCounts, log_meta
from harness.measure.hlog import END_LINE, counts_line, header_lines, run_line, slice_lines
from harness.measure.phase import PhaseMeta
from harness.measure.result import PhaseKind, ScenarioRef, TargetInfo

RATE = 1_000
TEMPLATES = 64
START_WALL_S = 1_700_000_000.0
EMPTY = LatencyHistogram()


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
    """The synthetic log; returns the number of intervals.

    Each template's three payloads (all phases, the phase's tag, its service tag) are encoded once
    and its lines formatted per second exactly as :func:`harness.measure.hlog.slice_lines` writes
    them (a test of the benchmark checks one slice against it)."""
    seconds = round(hours * 3600)
    phase = PhaseMeta("soak", PhaseKind.SOAK, True, 0.0, float(seconds), float(RATE))
    ref = ScenarioRef("soak", "scenarios/soak.yaml", "00" * 32)
    meta = log_meta(ref, TargetInfo("http://127.0.0.1:8080", True), [phase], 1.0)
    counts = RequestCounts(sent=RATE, ok=RATE)
    lines = [_template_lines(lat, svc) for lat, svc in _templates(np.random.default_rng(0))]
    with path.open("w", encoding="utf-8") as out:
        out.write("\n".join([*header_lines(START_WALL_S), run_line(meta)]) + "\n")
        for second in range(seconds):
            rec = IntervalRecord(float(second), 1.0, "soak", RATE, counts, EMPTY, EMPTY)
            start = f"{float(second):.3f}"
            body = lines[second % TEMPLATES].replace("@START@", start)
            out.write(counts_line(rec) + "\n" + body)
        out.write(END_LINE + "\n")
    return seconds


def _template_lines(latency: LatencyHistogram, service: LatencyHistogram) -> str:
    """The interval lines of one template with the start left as ``@START@``."""
    rec = IntervalRecord(0.0, 1.0, "soak", RATE, RequestCounts(), latency, service)
    lines = slice_lines([rec])[1:]  # the counts line is written per second
    return "".join(line.replace("0.000,1.000,", "@START@,1.000,", 1) + "\n" for line in lines)


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
    load_before = os.getloadavg()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "report", "rebuild", str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    build_s = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # ru_maxrss of RUSAGE_CHILDREN is the largest of any waited-for child: the rebuild is the
    # only child this process waited for.
    peak_mb = after.ru_maxrss / 1024
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # A rebuilt run is INVALID by design (exit 3, "verdict: invalid"); anything else failed.
    if proc.returncode != 3 or "verdict: invalid" not in proc.stdout:
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
                "report_build_cpu_s": round(cpu_s, 1),
                "report_build_peak_rss_mb": round(peak_mb, 1),
                "load_average_before_after": [
                    round(load_before[0], 1),
                    round(os.getloadavg()[0], 1),
                ],
                "cpus": os.cpu_count(),
                "sizes_mb": {k: round(v, 2) for k, v in sizes.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
