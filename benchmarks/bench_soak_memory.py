"""RSS of the harness and generator processes over a live 1,000 req/s soak (issue 11).

Runs the real ``slo-harness run`` (``benchmarks/scenarios/service-1000rps.yaml``, its steady
phase stretched to ``--minutes``) against the embedded reference service on loopback, by default
with ``--workers 1`` so the generator (the Locust worker) and the harness process (the master
that merges the worker's snapshots, streams ``latency.partial.hlog`` and writes the reports) are
separate processes, each sampled on its own (times count from the load's start: when
``latency.partial.hlog`` appears); ``--workers 0`` measures the single-process form
(the harness process is the generator). Every ``--every-s`` seconds the RSS (psutil) of the
harness process, each worker and the service is sampled with the load average; printed: one JSON
line per sample, then a summary with the RSS at minute 1 and at the last minute, the growth
between them (target: < 20 MB), the run's achieved rate and whether the generator judged itself
valid (``report.json``), so a machine too loaded to hold 1,000 req/s shows as such.

``--tracemalloc DIR`` (diagnosis, slows the processes): ``benchmarks/soakdiag/sitecustomize.py``
goes on ``PYTHONPATH``; 30 s into the load the harness and worker processes start ``tracemalloc``
(SIGUSR1) and write a snapshot into DIR every minute after; ``--diff DIR`` prints the largest
growths between each process's first and last snapshot.

Run: ``python benchmarks/bench_soak_memory.py --minutes 30`` (the published figure), or
``--minutes 4 --tracemalloc /tmp/tm`` then ``--diff /tmp/tm`` to find what grows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
SCENARIO = HERE / "scenarios" / "service-1000rps.yaml"
SLO_HARNESS = Path(sys.executable).with_name("slo-harness")


def _role(proc: psutil.Process) -> str | None:
    try:
        argv = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    if "reference_service" in argv:
        return "service"
    if "harness.entrypoints.worker" in argv:
        return "generator"
    return None


def _sample(harness: psutil.Process, workers: int) -> dict[str, float]:
    """RSS in MB per role (generator = the harness process itself with --workers 0)."""
    out: dict[str, float] = defaultdict(float)
    try:
        out["harness"] = harness.memory_info().rss / 1e6
        children = harness.children(recursive=True)
    except psutil.Error:
        return {}
    for child in children:
        role = _role(child)
        if role is None:
            continue
        try:
            out[role] += child.memory_info().rss / 1e6
        except psutil.Error:
            continue
    if workers == 0:
        out["generator"] = out["harness"]
    return {k: round(v, 1) for k, v in out.items()}


def _signal_traced(harness: psutil.Process) -> None:
    """SIGUSR1 to the harness and its generator workers (``soakdiag/sitecustomize.py``)."""
    for proc in [harness, *harness.children(recursive=True)]:
        if proc is harness or _role(proc) == "generator":
            try:
                proc.send_signal(signal.SIGUSR1)
            except psutil.Error:
                continue


def _report_facts(out_dir: Path) -> dict[str, Any]:
    try:
        doc = json.loads((out_dir / "report.json").read_text())
    except (OSError, ValueError):
        return {"report": "missing"}
    steady = next((p for p in doc.get("phases", []) if p.get("name") == "steady"), {})
    gen = doc.get("generator", {})
    return {
        "verdict": doc.get("verdict"),
        "verdict_reasons": doc.get("verdict_reasons"),
        "steady_achieved_rps": steady.get("achieved_rps"),
        "steady_offered_rps": steady.get("offered_rps"),
        "generator": gen,
    }


def soak(minutes: float, rate: float, workers: int, every_s: float, trace_dir: Path | None) -> None:
    env = dict(os.environ)
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(HERE / "soakdiag"), *filter(None, [env.get("PYTHONPATH")])]
        )
        env["SLO_SOAK_TRACEMALLOC"] = str(trace_dir)
    with tempfile.TemporaryDirectory(prefix="slo-soak-") as tmp:
        out_dir = Path(tmp) / "out"
        env.setdefault("SLO_HARNESS_STATE_DIR", str(Path(tmp) / "state"))
        argv = [
            str(SLO_HARNESS),
            "run",
            str(SCENARIO),
            "--duration",
            str(minutes * 60),
            "--rate",
            str(rate),
            "--workers",
            str(workers),
            "--no-progress",
            "--out",
            str(out_dir),
        ]
        log = (Path(tmp) / "run.log").open("wb")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        harness = psutil.Process(proc.pid)
        started = time.monotonic()
        load_start: float | None = None  # the partial log appears when the load starts
        samples: list[dict[str, Any]] = []
        signals = 0  # SIGUSR1s sent: the first starts tracemalloc, each later one snapshots
        try:
            while proc.poll() is None:
                time.sleep(every_s - (time.monotonic() - started) % every_s)
                rss = _sample(harness, workers)
                now = time.monotonic()
                if load_start is None and (out_dir / "latency.partial.hlog").exists():
                    load_start = now
                if not rss or load_start is None:
                    continue
                row = {
                    "t_s": round(now - load_start),
                    "loadavg_1m": round(os.getloadavg()[0], 2),
                    **{f"{k}_mb": v for k, v in rss.items()},
                }
                samples.append(row)
                print(json.dumps(row), flush=True)
                if trace_dir is not None and now - load_start >= 30 + 60 * signals:
                    _signal_traced(harness)
                    signals += 1
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(60)
            log.close()
        print(json.dumps(_summary(samples, minutes, proc.returncode, out_dir)), flush=True)
        if proc.returncode not in (0, 1):
            sys.stdout.write((Path(tmp) / "run.log").read_text()[-3000:])


def _summary(
    samples: list[dict[str, Any]], minutes: float, code: int | None, out_dir: Path
) -> dict[str, Any]:
    """RSS at minute 1 and at the last full minute of the load (``t_s`` counts from the load's
    start, warm-up included: the first 10 s)."""
    load_end_s = 10 + minutes * 60

    def at(t_s: float) -> dict[str, Any]:
        return min(samples, key=lambda r: abs(r["t_s"] - t_s)) if samples else {}

    # the last sample while the load ran (the service stops when it ends; then the report is
    # built, which is not the soak's growth)
    running = [r for r in samples if "service_mb" in r and r["t_s"] <= load_end_s] or samples
    first, last = at(60), (running[-1] if running else {})
    growth = {
        k.removesuffix("_mb"): round(last[k] - first[k], 1)
        for k in first
        if k.endswith("_mb") and k in last
    }
    loads = [r["loadavg_1m"] for r in samples if r["t_s"] <= load_end_s]
    return {
        "summary": True,
        "exit_code": code,
        "minute_1": first,
        "last": last,
        "growth_mb": growth,
        "loadavg_1m_min_median_max": [
            min(loads, default=0),
            sorted(loads)[len(loads) // 2] if loads else 0,
            max(loads, default=0),
        ],
        **_report_facts(out_dir),
    }


def diff(trace_dir: Path, top: int) -> None:
    """Largest growths (by file:line, 10 frames grouped on the innermost) per process."""
    by_pid: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(trace_dir.glob("tm-*.snap")):
        by_pid[path.name.split("-")[1]].append(path)
    for pid, paths in by_pid.items():
        if len(paths) < 2:
            continue
        first = tracemalloc.Snapshot.load(str(paths[0]))
        last = tracemalloc.Snapshot.load(str(paths[-1]))
        total = sum(s.size for s in last.statistics("filename")) - sum(
            s.size for s in first.statistics("filename")
        )
        print(f"pid {pid}: {paths[0].name} -> {paths[-1].name}: traced {total / 1e6:+.2f} MB")
        for stat in last.compare_to(first, "traceback")[:top]:
            frames = " <- ".join(
                f"{Path(f.filename).name}:{f.lineno}" for f in list(stat.traceback)[:4]
            )
            print(f"  {stat.size_diff / 1e3:+9.1f} KB {stat.count_diff:+7d} objs  {frames}")


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM/SIGHUP take the Ctrl-C path, so the `finally` stops the soak's harness and the
    # temporary run folder is removed (a terminated benchmark left /tmp/slo-soak-* behind).
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="steady rate, req/s")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--every-s", type=float, default=30.0)
    parser.add_argument("--tracemalloc", type=Path, metavar="DIR")
    parser.add_argument("--diff", type=Path, metavar="DIR")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    if args.diff is not None:
        diff(args.diff, args.top)
        return
    if not SLO_HARNESS.exists() and shutil.which("slo-harness") is None:
        parser.error("slo-harness is not installed next to this interpreter")
    soak(args.minutes, args.rate, args.workers, args.every_s, args.tracemalloc)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as exc:
        print(f"bench_soak_memory: interrupted ({exc or 'SIGINT'}); soak stopped, folder removed")
        sys.exit(130)
