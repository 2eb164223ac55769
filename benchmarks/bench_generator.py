"""The load generator against its acceptance targets (issue 3), on this machine, in one run.

``python benchmarks/bench_generator.py`` (``--quick`` halves the durations; ``--json PATH``
writes the numbers atomically; ``--check`` exits 1 if a target is missed). Prints Markdown rows.

1. **Fidelity**: the known-latency target (``harness/testing/latency_target.py``: 98% at 2 ms,
   every 50th request 40 ms) pinned to CPU 1; ``wrk -c1 -t1 --latency`` and our generator
   (200 requests/s, open model) both pinned to CPU 0 and run *at the same time* against it, so
   both see the same target in the same state. Target: our p50 and p99 (intended clock) within
   max(3%, 0.3 ms) of wrk's. wrk 4.x "corrects" its own percentiles for coordinated omission
   with its mean request interval (``stats_correct``), which adds synthetic samples to a
   closed-loop run; a Lua ``done()`` hook dumps wrk's histogram and we invert that correction
   exactly (the sample count comes back to wrk's request count), so both wrk's printed and its
   raw percentiles are shown. Repeated; the verdict uses the median delta.
1b. **Fidelity over TLS** (``--only fidelity-tls``, also part of the full run): the same, with the
   target serving TLS (a throwaway CA from :mod:`harness.testing.certs`), ``wrk`` over ``https://``
   and our generator verifying against that CA (``tls: {ca: ...}``). Both keep one connection
   per slot, so after the first request neither pays a handshake; the bar is the same.
   ``--only overhead-tls`` (also in the full run) repeats the overhead comparison over TLS.
2. **Coordinated omission**: the target holds every response for 1 s once, 15 s into a 30 s run
   at 200 requests/s. Analytic p99 from the intended send times: 0.7 s. Our p99 (intended and
   service clocks) next to stock Locust on a fresh target with the same offered load
   (FastHttpUser, ``constant_throughput(20)``, 10 users: a closed model) and its own p99.
3. **Overhead**: a zero-delay target on CPU 1, the generator alone on CPU 0. Throughput of a bare
   FastHttpUser (10 users, no wait, one fixed pre-serialised body) against our instrumented
   user (10 slots, offered far above capacity, a fresh synthetic payload per request, HDR
   recording, Locust's request event). Completed requests per second, median over the middle
   seconds, alternating runs, median of the repeats. Target: ours >= 90% of bare. The same user
   with the tail explanation off (``SLO_HARNESS_EXPLAIN_TAIL=0``: no traceparent, no sampling)
   runs in the same rotation; the difference of 1/throughput is its CPU cost per request.

4. **Request bodies** (``--only bodies``, i.e. ``benchmarks/bench_bodies.py``): CPU per request to
   build each body kind ahead of its intended time (templates, V2 from metadata, files, ...).

Each generator runs in its own child process (``--child``), as Locust monkey-patches whatever
imports it. Targets and children are always stopped, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.files import atomic_write_bytes
from harness.testing import latency_target as launched

ROOT = Path(__file__).resolve().parents[1]
GEN_CPU = "0"
TARGET_CPU = "1"
WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RAW %d %d\\n", summary.duration, summary.requests))
  for i = 1, #latency do
    local v, c = latency(i)
    io.write(string.format("B %d %d\\n", v, c))
  end
end
"""
BODY = (
    b'{"transaction_id":"bench-1","amount":42.5,"currency":"USD","merchant_id":"m5411-1",'
    b'"merchant_category_code":"5411","merchant_country":"US","billing_country":"US",'
    b'"ip_country":"US","card_present":true,"account_age_days":400.0,"device_id":"dev-1",'
    b'"device_known":true,"card_token":"syn.1.c1","timestamp":"2024-06-01T12:00:00.000Z"}'
)


# -- helpers -------------------------------------------------------------------------------------
def _pin(cpu: str) -> list[str]:
    return ["taskset", "-c", cpu] if shutil.which("taskset") else []


def tls_args(folder: Path) -> tuple[str, ...]:
    """A throwaway PKI in ``folder``; the target's arguments to serve TLS with it."""
    from harness.testing import make_test_pki

    pki = make_test_pki(folder)
    return ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))


def target(*args: str) -> contextlib.AbstractContextManager[str]:
    """The known-latency target pinned to TARGET_CPU; yields its URL; always stopped."""
    return launched(*args, lifetime_s=600, prefix=_pin(TARGET_CPU))


def child(
    name: str, *args: str, timeout: float = 300, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``--child name`` pinned to GEN_CPU (``env``: extra variables); return its JSON."""
    cmd = [*_pin(GEN_CPU), sys.executable, str(Path(__file__)), "--child", name, *args]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, check=False, env=full_env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {name} failed:\n{proc.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def start_wrk(url: str, duration_s: float, lua: Path) -> subprocess.Popen[str]:
    cmd = [*_pin(GEN_CPU), "wrk", "-c1", "-t1", f"-d{int(duration_s)}s", "--latency"]
    return subprocess.Popen(
        [*cmd, "-s", str(lua), url + "/v1/score"], stdout=subprocess.PIPE, text=True
    )


def parse_wrk(text: str) -> dict[str, float]:
    """wrk's printed p50/p99 and the raw ones (its CO correction undone), in ms."""
    printed: dict[str, float] = {}
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "99%"):
            value = parts[1]
            unit = next(u for u in ("us", "ms", "s") if value.endswith(u))
            printed[parts[0]] = float(value[: -len(unit)]) * units[unit]
    raw_line = next(line for line in text.splitlines() if line.startswith("RAW "))
    duration_us, requests = (int(x) for x in raw_line.split()[1:3])
    data = {
        int(v): int(c) for _, v, c in (ln.split() for ln in text.splitlines() if ln[:2] == "B ")
    }
    real = uncorrect_wrk(data, duration_us // requests)
    return {
        "printed_p50": printed["50%"],
        "printed_p99": printed["99%"],
        "raw_p50": percentile(real, 50.0) / 1000.0,
        "raw_p99": percentile(real, 99.0) / 1000.0,
        "requests": float(requests),
        "raw_count": float(sum(real.values())),
    }


def uncorrect_wrk(data: dict[int, int], interval_us: int) -> dict[int, int]:
    """Invert wrk's ``stats_correct`` (which, for every sample n >= 2*E, adds one synthetic
    sample at n-E, n-2E, ... while above E): walk values downwards, subtracting the synthetic
    samples that higher real values put there."""
    synthetic: dict[int, int] = {}
    real: dict[int, int] = {}
    for n in sorted(data, reverse=True):
        count = data[n] - synthetic.get(n, 0)
        real[n] = count
        if count and n >= 2 * interval_us:
            m = n - interval_us
            while m > interval_us:
                synthetic[m] = synthetic.get(m, 0) + count
                m -= interval_us
    return {v: c for v, c in real.items() if c}


def percentile(hist: dict[int, int], p: float) -> float:
    """HDR's rule: the smallest value whose cumulative count reaches int(p/100*N + 0.5)."""
    total = sum(hist.values())
    rank = max(1, int(p / 100.0 * total + 0.5))
    acc = 0
    for value in sorted(hist):
        acc += hist[value]
        if acc >= rank:
            return float(value)
    return float(max(hist))


def bound(reference: float) -> float:
    return max(0.03 * reference, 0.3)


# -- children (run inside a fresh, pinned process) ------------------------------------------------
def child_ours(args: argparse.Namespace) -> dict[str, Any]:
    import msgspec

    from harness.load import RunOptions, run_scenario
    from harness.measure.result import Clock
    from harness.spec.scenario import Scenario

    phases = []
    if args.warmup > 0:
        phases.append({"name": "warmup", "kind": "warmup", "rate": args.rate, "duration_s": 2})
    phases.append(
        {"name": "main", "kind": "steady", "rate": args.rate, "duration_s": args.duration}
    )
    spec: dict[str, Any] = {
        "name": "bench",
        "target": args.target,
        "max_concurrency": args.cap,
        "phases": phases,
    }
    if args.tls_ca:
        spec["tls"] = {"ca": args.tls_ca}
    scenario = msgspec.convert(spec, Scenario)
    result = run_scenario(scenario, RunOptions(progress=False))
    main = next(p for p in result.phases if p.name == "main")
    intended, service = main.latency(), main.latency(clock=Clock.SERVICE)
    per_second = [i.counts.ok for i in result.intervals if i.phase == "main"]
    g = result.generator
    return {
        "p50": intended.percentile_ms(50),
        "p99": intended.percentile_ms(99),
        "service_p50": service.percentile_ms(50),
        "service_p99": service.percentile_ms(99),
        "sent": main.counts.sent,
        "ok": main.counts.ok,
        "late": main.counts.late,
        "per_second": per_second,
        "valid": g.valid,
        "cpu_p50": g.cpu_percent_p50,
        "lag_p99_ms": g.schedule_lag_p99_ms,
        "cap_hits": g.cap_hits,
    }


def child_stock(args: argparse.Namespace) -> dict[str, Any]:
    import gevent
    from locust import FastHttpUser, constant, constant_throughput, task
    from locust.env import Environment

    wait = constant(0) if args.per_user_rate <= 0 else constant_throughput(args.per_user_rate)
    counts: dict[int, int] = {}
    t0 = time.monotonic()

    class Stock(FastHttpUser):
        wait_time = wait

        @task
        def score(self) -> None:
            self.client.post("/v1/score", data=BODY, headers={"Content-Type": "application/json"})

    env = Environment(user_classes=[Stock], host=args.target)

    def on_request(**_: Any) -> None:
        second = int(time.monotonic() - t0)
        counts[second] = counts.get(second, 0) + 1

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.users)
    gevent.sleep(args.duration)
    runner.quit()
    total = env.stats.total
    seconds = max(counts) if counts else 0
    return {
        "requests": total.num_requests,
        "p50": total.get_response_time_percentile(0.5),
        "p99": total.get_response_time_percentile(0.99),
        "per_second": [counts.get(s, 0) for s in range(seconds + 1)],
    }


# -- the three benchmarks ------------------------------------------------------------------------
def fidelity(duration: float, repeats: int, *, tls: bool = False) -> dict[str, Any]:
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "raw.lua"
        lua.write_text(WRK_LUA)
        serve = tls_args(Path(tmp) / "pki") if tls else ()
        ca = ("--tls-ca", str(Path(tmp) / "pki" / "ca.pem")) if tls else ()
        for _ in range(repeats):
            with target(*serve) as url:
                wrk = start_wrk(url, duration + 6, lua)
                try:
                    time.sleep(1.0)
                    ours = child(
                        "ours",
                        *("--target", url, "--rate", "200", "--duration", str(duration)),
                        *("--cap", "32", "--warmup", "1", *ca),
                    )
                    out, _ = wrk.communicate(timeout=duration + 30)
                finally:
                    if wrk.poll() is None:
                        wrk.kill()
                        wrk.wait()
            runs.append({"ours": ours, "wrk": parse_wrk(out)})
    return {"runs": runs}


def coordinated_omission(duration: float) -> dict[str, Any]:
    stall_args = ("--slow-every", "0", "--stall-after-s", str(duration / 2), "--stall-s", "1")
    with target(*stall_args) as url:
        ours = child(
            "ours",
            *("--target", url, "--rate", "200", "--duration", str(duration), "--cap", "256"),
        )
    with target(*stall_args) as url:
        stock = child(
            "stock",
            *("--target", url, "--users", "10", "--per-user-rate", "20"),
            *("--duration", str(duration)),
        )
    n = round(200 * duration)
    analytic_ms = (1.0 - (n - int(0.99 * n + 0.5)) / 200) * 1000.0
    return {"ours": ours, "stock": stock, "analytic_p99_ms": analytic_ms, "duration_s": duration}


def overhead(duration: float, repeats: int, *, tls: bool = False) -> dict[str, Any]:
    def middle(per_second: Sequence[int]) -> float:
        inner = list(per_second)[2:-1] or list(per_second)
        return float(statistics.median(inner))

    bare, ours, untraced = [], [], []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        serve = tls_args(tmp / "pki") if tls else ()
        ca = ("--tls-ca", str(tmp / "pki" / "ca.pem")) if tls else ()
        url = stack.enter_context(target("--base-ms", "0", "--slow-every", "0", *serve))
        for _ in range(repeats):
            stock = child(  # FastHttpUser does not verify certificates (its insecure default)
                "stock",
                *("--target", url, "--users", "10", "--per-user-rate", "0"),
                *("--duration", str(duration)),
            )
            bare.append(middle(stock["per_second"]))
            args = (
                *("--target", url, "--rate", "50000", "--duration", str(duration)),
                *("--cap", "10", *ca),
            )
            ours.append(middle(child("ours", *args)["per_second"]))
            # The same user without the tail's per-request work (traceparent, sampling, the
            # Server-Timing of kept requests): the cost of explaining the tail, A/B in one run.
            off = child("ours", *args, env={"SLO_HARNESS_EXPLAIN_TAIL": "0"})
            untraced.append(middle(off["per_second"]))
    return {"bare_rps": bare, "ours_rps": ours, "untraced_rps": untraced}


# -- report --------------------------------------------------------------------------------------
def report(
    fid: dict[str, Any], co: dict[str, Any], ovh: dict[str, Any], tls: dict[str, Any]
) -> tuple[str, bool]:
    lines, fid_ok = fidelity_table(fid, "")
    tls_lines, tls_ok = fidelity_table(tls, " over TLS (https://, verified, one connection each)")
    lines += ["", *tls_lines]
    co_lines, co_ok = co_table(co)
    ovh_lines, ovh_ok = overhead_table(ovh)
    return "\n".join([*lines, *co_lines, *ovh_lines]), fid_ok and tls_ok and co_ok and ovh_ok


def fidelity_table(fid: dict[str, Any], what: str) -> tuple[list[str], bool]:
    """The fidelity rows (one per run + the median) and whether the medians meet the bar."""
    title = f"### Fidelity{what} (200 requests/s open model vs wrk -c1 -t1, same target, same time)"
    lines = [title, ""]
    lines.append(
        "| run | wrk p50 printed/raw | ours p50 (service) | Δ p50 vs raw | wrk p99 printed/raw "
        "| ours p99 (service) | Δ p99 vs raw | ours lag p99 |"
    )
    lines.append("|---|---|---|---|---|---|---|---|")
    d50s, d99s, ok50s, ok99s = [], [], [], []
    for i, run in enumerate(fid["runs"], 1):
        w, o = run["wrk"], run["ours"]
        d50, d99 = o["p50"] - w["raw_p50"], o["p99"] - w["raw_p99"]
        d50s.append(d50)
        d99s.append(d99)
        ok50s.append(abs(d50) <= bound(w["raw_p50"]))
        ok99s.append(abs(d99) <= bound(w["raw_p99"]))
        lines.append(
            f"| {i} | {w['printed_p50']:.2f} / {w['raw_p50']:.3f} ms "
            f"| {o['p50']:.3f} ({o['service_p50']:.3f}) ms | {d50:+.3f} ms "
            f"| {w['printed_p99']:.2f} / {w['raw_p99']:.3f} ms "
            f"| {o['p99']:.3f} ({o['service_p99']:.3f}) ms | {d99:+.3f} ms "
            f"| {o['lag_p99_ms']:.2f} ms |"
        )
    med50, med99 = statistics.median(d50s), statistics.median(d99s)
    ref50 = statistics.median(r["wrk"]["raw_p50"] for r in fid["runs"])
    ref99 = statistics.median(r["wrk"]["raw_p99"] for r in fid["runs"])
    fid_ok = abs(med50) <= bound(ref50) and abs(med99) <= bound(ref99)
    lines.append(
        f"| median | | | {med50:+.3f} ms (bound ±{bound(ref50):.3f}) | | "
        f"| {med99:+.3f} ms (bound ±{bound(ref99):.3f}) | {'PASS' if fid_ok else 'FAIL'} |"
    )
    return lines, fid_ok


def co_table(co: dict[str, Any]) -> tuple[list[str], bool]:
    """The coordinated-omission rows and whether ours lands on the analytic p99."""
    o, s = co["ours"], co["stock"]
    co_ok = abs(o["p99"] - co["analytic_p99_ms"]) <= 0.1 * co["analytic_p99_ms"] and s["p99"] < 50
    lines = [
        "",
        f"### Coordinated omission (1 s stall once, {co['duration_s']:.0f} s at 200 requests/s)",
        "",
        "| generator | requests | p50 | p99 | analytic p99 |",
        "|---|---|---|---|---|",
        f"| slo-harness, intended clock | {o['sent']} | {o['p50']:.2f} ms | {o['p99']:.1f} ms "
        f"| {co['analytic_p99_ms']:.0f} ms |",
        f"| slo-harness, service clock | {o['sent']} | {o['service_p50']:.2f} ms "
        f"| {o['service_p99']:.1f} ms | |",
        f"| stock Locust (FastHttpUser, constant_throughput, 10 users) | {s['requests']} "
        f"| {s['p50']:.0f} ms | {s['p99']:.0f} ms | |",
        f"| verdict | | | {'PASS' if co_ok else 'FAIL'} | |",
    ]
    return lines, co_ok


def overhead_table(ovh: dict[str, Any], what: str = "") -> tuple[list[str], bool]:
    """The overhead rows and whether ours reaches 90% of a bare FastHttpUser."""
    bare, ours = statistics.median(ovh["bare_rps"]), statistics.median(ovh["ours_rps"])
    untraced = statistics.median(ovh["untraced_rps"])
    ratio = ours / bare if bare else 0.0
    ovh_ok = ratio >= 0.9
    # Client CPU per request is 1 / throughput on the one saturated core.
    tail_us = (1e6 / ours - 1e6 / untraced) if ours and untraced else 0.0
    lines = [
        "",
        f"### Overhead{what} (one core, zero-delay target, 10 connections)",
        "",
        "| generator | completed/s per run | median |",
        "|---|---|---|",
        f"| bare FastHttpUser | {', '.join(f'{x:.0f}' for x in ovh['bare_rps'])} | {bare:.0f} |",
        f"| slo-harness user | {', '.join(f'{x:.0f}' for x in ovh['ours_rps'])} | {ours:.0f} |",
        f"| slo-harness user, tail explanation off | "
        f"{', '.join(f'{x:.0f}' for x in ovh['untraced_rps'])} | {untraced:.0f} |",
        f"| cost of the tail explanation | | {tail_us:+.1f} us per request "
        f"({ours / untraced if untraced else 0:.3f} of the throughput without it) |",
        f"| ratio | | {ratio:.2f} ({'PASS' if ovh_ok else 'FAIL'}, target >= 0.90) |",
    ]
    return lines, ovh_ok


def _write_json(path: Path, data: object) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2).encode(), mode=0o644)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Half-length runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true", help="Exit 1 when a target is missed")
    parser.add_argument(
        "--only",
        choices=("fidelity", "fidelity-tls", "co", "overhead", "overhead-tls", "bodies"),
    )
    parser.add_argument("--child", choices=("ours", "stock"))
    parser.add_argument("--target")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--cap", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=0)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--per-user-rate", type=float, default=0)
    parser.add_argument("--tls-ca", help="(child) verify an https:// target against this CA")
    args = parser.parse_args(argv)
    if args.only == "bodies":  # 4. request build cost per body kind (benchmarks/bench_bodies.py)
        import bench_bodies  # a sibling: a script's own folder is first on sys.path

        return bench_bodies.main([])
    if args.child:
        out = child_ours(args) if args.child == "ours" else child_stock(args)
        print(json.dumps(out))
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    scale = 0.5 if args.quick else 1.0
    fid = fidelity(20 * scale, args.repeats) if args.only in (None, "fidelity") else {"runs": []}
    tls = {"runs": []}
    if args.only in (None, "fidelity-tls"):
        tls = fidelity(20 * scale, args.repeats, tls=True)
    co = coordinated_omission(30 * scale) if args.only in (None, "co") else {}
    ovh = overhead(10 * scale, max(2, args.repeats - 1)) if args.only in (None, "overhead") else {}
    ovh_tls: dict[str, Any] = {}
    if args.only in (None, "overhead-tls"):
        ovh_tls = overhead(10 * scale, max(2, args.repeats - 1), tls=True)
    numbers = {
        "fidelity": fid,
        "fidelity_tls": tls,
        "co": co,
        "overhead": ovh,
        "overhead_tls": ovh_tls,
    }
    if args.only is None:
        text, ok = report(fid, co, ovh, tls)
        tls_text, tls_ok = overhead_table(ovh_tls, " over TLS")
        text, ok = "\n".join([text, *tls_text]), ok and tls_ok
    elif args.only in ("overhead", "overhead-tls"):
        chosen_ovh = ovh if args.only == "overhead" else ovh_tls
        lines, ok = overhead_table(chosen_ovh, " over TLS" if args.only == "overhead-tls" else "")
        text = "\n".join(lines)
    elif args.only in ("fidelity", "fidelity-tls"):
        chosen = fid if args.only == "fidelity" else tls
        text, ok = fidelity_table(chosen, " over TLS" if args.only == "fidelity-tls" else "")
        text = "\n".join(text)
    else:
        text, ok = json.dumps(numbers, indent=2), True
    print(text)
    if args.json:
        _write_json(args.json, numbers)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
