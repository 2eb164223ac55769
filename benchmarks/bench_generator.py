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
1c. **Templated requests** (``--only fidelity-template`` / ``overhead-template``, also in the full
   run): the same two comparisons with issue 9's own-api entry (``POST /api/risk/v3``, a Jinja2
   body with ``uuid()``, ``randint`` and ``choice`` rendered per request) instead of the
   built-in fraud transaction.
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
   runs in the same rotation; the difference of 1/throughput is its CPU cost per request. Each
   run of ours also reports its process CPU per completed request (``getrusage`` over the middle
   seconds), which holds where requests/s do not: on a machine shared with other jobs.
5. **Idle-gapped target** (``--only idle-gap``; ``benchmarks/generator_idle.py``): an asyncio
   target with 2 ms think time, against paced wrk (Lua ``delay()``), back-to-back wrk, a blocking
   Python client, the gevent floor and ours, interleaved; the breakdown of where ours' extra
   time goes (issue 11).
6. **CPU per request and profile** (``--only profile``; ``benchmarks/generator_profile.py``):
   ours against the gevent floor in CPU us per request, interleaved; a py-spy profile by
   component, collapsed stacks and a flame graph under ``--out`` (issue 11).
7. **CPU per request, before/after and step by step** (``--only cost [--before REF]``;
   ``benchmarks/generator_cost.py``): this tree against the tree at REF (default ``main``) and
   the floor levels (the gevent floor plus one unavoidable step per level: request built per
   arrival, traceparent, open-model hand-off, deadline, 3 clocks into HDR, tail sampler), all
   interleaved against a minimal C epoll responder; ``--rounds`` rounds (issue 11).

4. **Request bodies** (``--only bodies``, i.e. ``benchmarks/bench_bodies.py``): CPU per request to
   build each body kind ahead of its intended time (templates, V2 from metadata, files, ...).

Each generator runs in its own child process (``--child``), as Locust monkey-patches whatever
imports it. Targets and children are always stopped, also on Ctrl-C. The output ends with the
load average at start and end: on a shared machine, read ratios measured in one run.
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
from collections.abc import Iterator, Sequence
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
#: The templated request of the ``-template`` rows: issue 9's own-api body, rendered per request.
TEMPLATED = {
    "name": "risk",
    "weight": 1,
    "method": "POST",
    "path": "/api/risk/v3",
    "body": {
        "template": '{"request_id": "{{ uuid() }}", "amount_cents": {{ randint(1, 500000) }}, '
        '"country": "{{ choice(["DE", "FR", "US"]) }}"}'
    },
    "expect": {"status": [200]},
}
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
    import gevent
    import msgspec
    from generator_profile import CpuTrack, cpu_per_request

    import harness
    from harness.load import (
        RunOptions,
        pacing,  # noqa: F401  (imports Locust: gevent-patched from here on)
        run_scenario,
    )
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
    if args.template:  # the issue's own-api body (uuid, randint, choice), built per request
        spec["requests"] = [TEMPLATED]
    scenario = msgspec.convert(spec, Scenario)
    track = CpuTrack()
    tracker = gevent.spawn(track.run, args.duration + args.warmup * 2 + 15)
    result = run_scenario(scenario, RunOptions(progress=False))
    tracker.kill()
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
        "cpu_us_per_req": cpu_per_request(track, result),
        "tree": str(Path(harness.__file__).resolve().parents[1]),
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
def fidelity(
    duration: float, repeats: int, *, tls: bool = False, template: bool = False
) -> dict[str, Any]:
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
                        *(("--template",) if template else ()),
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


def overhead(
    duration: float, repeats: int, *, tls: bool = False, template: bool = False
) -> dict[str, Any]:
    def middle(per_second: Sequence[int]) -> float:
        inner = list(per_second)[2:-1] or list(per_second)
        return float(statistics.median(inner))

    bare, ours, untraced, cpu = [], [], [], []
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
                *(("--template",) if template else ()),
            )
            run = child("ours", *args)
            ours.append(middle(run["per_second"]))
            cpu.append(run["cpu_us_per_req"])
            # The same user without the tail's per-request work (traceparent, sampling, the
            # Server-Timing of kept requests): the cost of explaining the tail, A/B in one run.
            off = child("ours", *args, env={"SLO_HARNESS_EXPLAIN_TAIL": "0"})
            untraced.append(middle(off["per_second"]))
    return {"bare_rps": bare, "ours_rps": ours, "untraced_rps": untraced, "ours_cpu_us": cpu}


@contextlib.contextmanager
def idle_target() -> Iterator[str]:
    """The idle-gapped asyncio target (benchmarks/generator_idle.py) on TARGET_CPU; its URL."""
    from harness.testing import ready_process

    script = Path(__file__).with_name("generator_idle.py")
    with ready_process([*_pin(TARGET_CPU), sys.executable, str(script), "900"]) as url:
        yield url


def idle_gap(duration: float, rounds: int) -> dict[str, Any]:
    """Every client of generator_idle.ROWS against the idle target, one after the other, the
    order rotating each round; p50s (ms) per client and round."""
    import generator_idle as idle

    p50: dict[str, list[float]] = {k: [] for k, _ in idle.ROWS}
    wait: dict[str, list[float]] = {"blocking": [], "floor": []}
    recv: dict[str, list[float]] = {"blocking": [], "floor": []}
    wrk_rps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, idle_target() as url:
        paced, b2b = Path(tmp) / "paced.lua", Path(tmp) / "b2b.lua"
        paced.write_text(idle.WRK_PACED_LUA + WRK_LUA)
        b2b.write_text(idle.WRK_B2B_LUA + WRK_LUA)
        dur = str(duration)

        def run_wrk(lua: Path, key: str) -> None:
            proc = start_wrk(url, duration, lua)
            out, _ = proc.communicate(timeout=duration + 30)
            w = parse_wrk(out)
            p50[key].append(w["raw_p50"])
            if key == "wrk_paced":
                wrk_rps.append(w["requests"] / duration)

        def run_ref(key: str) -> None:
            r = child(key, "--target", url, "--duration", dur)
            p50[key].append(r["p50"])
            wait[key].append(r["wait_p50"])
            recv[key].append(r["receive_p50"])

        def run_ours() -> None:
            args = ("--target", url, "--rate", "200", "--duration", dur, "--cap", "32")
            r = child("ours", *args, "--warmup", "1")
            p50["ours"].append(r["p50"])
            p50["ours_service"].append(r["service_p50"])

        steps = [
            lambda: run_wrk(b2b, "wrk_b2b"),
            lambda: run_wrk(paced, "wrk_paced"),
            lambda: run_ref("blocking"),
            lambda: run_ref("floor"),
            run_ours,
        ]
        for r in range(rounds):
            for step in steps[r % len(steps) :] + steps[: r % len(steps)]:
                step()
    return {"p50": p50, "wait_p50": wait, "receive_p50": recv, "wrk_paced_rps": wrk_rps}


def profile(duration: float, repeats: int, out_dir: Path) -> dict[str, Any]:
    """CPU per request, ours vs the gevent floor (interleaved), then a py-spy profile."""
    import generator_profile as prof

    cpu: dict[str, list[float]] = {"ours": [], "floor": []}
    out_dir.mkdir(parents=True, exist_ok=True)
    raw, svg = out_dir / "generator-profile.txt", out_dir / "generator-flame.svg"
    with target("--base-ms", "0", "--slow-every", "0") as url:
        ours_args = ("--target", url, "--rate", "50000", "--duration", str(duration), "--cap", "10")
        for r in range(repeats):
            order = ("ours", "floor") if r % 2 == 0 else ("floor", "ours")
            for name in order:
                if name == "ours":
                    cpu["ours"].append(child("ours", *ours_args)["cpu_us_per_req"])
                else:
                    got = child("floor-sat", "--target", url, "--duration", str(duration))
                    cpu["floor"].append(got["cpu_us_per_req"])
        cmd = [*_pin(GEN_CPU), sys.executable, str(Path(__file__)), "--child", "ours", *ours_args]
        spied = prof.run_py_spy(cmd, raw, "raw") and prof.run_py_spy(cmd, svg, "flamegraph")
    per, total = prof.summarise(raw.read_text()) if spied else ({}, 0)
    return {"cpu_us": cpu, "components": dict(per), "samples": total, "files": [str(raw), str(svg)]}


def cost(
    duration: float, rounds: int, before: str, steps: bool, also: Sequence[str] = ()
) -> dict[str, Any]:
    """CPU per request of this tree vs the tree at ``before`` (and at each ref of ``also``: the
    changes one by one) and the floor levels, all interleaved."""
    import generator_cost as gcost

    refs = {"before": f"{before} ({gcost.rev(ROOT, before)})", "after": "this tree"}
    for ref in also:
        refs[f"at:{ref}"] = gcost.describe(ROOT, ref)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(gcost.responder(_pin(TARGET_CPU)))
        refs["target"] = "minimal C epoll responder"
        if url is None:
            url = stack.enter_context(target("--base-ms", "0", "--slow-every", "0"))
            refs["target"] = "the Python zero-delay target (no C compiler)"
        tree = stack.enter_context(gcost.tree_at(ROOT, before))
        ours = ("--target", url, "--rate", "50000", "--duration", str(duration), "--cap", "10")

        def run_ours(where: Path | None) -> float:
            got = child("ours", *ours, env=gcost.env_with_tree(where))
            expected = (where or ROOT).resolve()
            if Path(got["tree"]).resolve() != expected:
                raise RuntimeError(f"child imported harness from {got['tree']}, not {expected}")
            return float(got["cpu_us_per_req"])

        runs: dict[str, Any] = {"before": lambda: run_ours(tree)}
        for ref in also:
            at = stack.enter_context(gcost.tree_at(ROOT, ref))
            runs[f"at:{ref}"] = lambda at=at: run_ours(at)
        runs["after"] = lambda: run_ours(None)
        data = gcost.interleave(rounds, runs)
        if steps:  # one process, every level time-sliced: 2 * rounds cycles of 1 s per level
            args = ("--target", url, "--duration", "1.0", "--rounds", str(2 * rounds))
            data.update(child("steps", *args, timeout=900))
    return {"cpu_us": data, "refs": refs, "seconds": duration, "rounds": rounds}


def cost_lines(data: dict[str, Any]) -> list[str]:
    """The before/after table and the floor steps."""
    import generator_cost as gcost

    refs = data["refs"]
    lines = [
        "### CPU per request: before/after, and step by step from the gevent floor (issue 11)",
        "",
        f"({data['rounds']} interleaved rounds of {data['seconds']:g} s against the "
        f"{refs['target']}; generator pinned to CPU {GEN_CPU}; `getrusage` over the middle "
        "seconds)",
        "",
        *gcost.ab_table(data["cpu_us"], refs),
    ]
    if any(k.startswith("step") for k in data["cpu_us"]):
        lines += ["", *gcost.steps_table(data["cpu_us"])]
    return lines


def profile_lines(data: dict[str, Any]) -> list[str]:
    """The CPU table, the profile table and where the flame graph is."""
    from collections import Counter

    import generator_profile as prof

    lines = [
        "### CPU per request and where it goes (issue 11)",
        "",
        *prof.cpu_table(data["cpu_us"]),
    ]
    if not data["samples"]:
        return [*lines, "", "(py-spy not installed: no profile; `pip install py-spy`)"]
    ours = statistics.median(data["cpu_us"]["ours"])
    lines += ["", *prof.profile_table(Counter(data["components"]), data["samples"], ours)]
    lines += ["", f"Collapsed stacks and flame graph: {', '.join(data['files'])}"]
    return lines


# -- report --------------------------------------------------------------------------------------
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
    if ovh.get("ours_cpu_us"):
        lines.insert(
            -1,
            "| slo-harness user, process CPU per request (getrusage, middle seconds) | "
            f"{', '.join(f'{x:.0f}' for x in ovh['ours_cpu_us'])} us "
            f"| {statistics.median(ovh['ours_cpu_us']):.0f} us |",
        )
    return lines, ovh_ok


def _write_json(path: Path, data: object) -> None:
    atomic_write_bytes(path, json.dumps(data, indent=2).encode(), mode=0o644)


SECTIONS = (
    "fidelity",
    "fidelity-tls",
    "fidelity-template",
    "co",
    "overhead",
    "overhead-tls",
    "overhead-template",
    "idle-gap",
    "profile",
    "cost",
)
_WHAT = {"tls": " over TLS", "template": " with templated requests (issue 9's own-api body)"}


def run_section(name: str, args: argparse.Namespace) -> tuple[Any, list[str], bool]:
    """(numbers, Markdown lines, target met) of one ``--only`` section."""
    scale = 0.5 if args.quick else 1.0
    kind = name.partition("-")[2]
    flags = {"tls": kind == "tls", "template": kind == "template"}
    if name.startswith("fidelity"):
        data = fidelity(20 * scale, args.repeats, **flags)
        lines, ok = fidelity_table(data, _WHAT.get(kind, ""))
        return data, lines, ok
    if name.startswith("overhead"):
        data = overhead(10 * scale, max(2, args.repeats - 1), **flags)
        lines, ok = overhead_table(data, _WHAT.get(kind, ""))
        return data, lines, ok
    if name == "co":
        data = coordinated_omission(30 * scale)
        lines, ok = co_table(data)
        return data, lines, ok
    if name == "idle-gap":
        import generator_idle

        data = idle_gap(10 * scale, args.repeats)
        lines, ok = generator_idle.idle_table(data)
        return data, lines, ok
    if name == "cost":
        rounds = args.rounds or (3 if args.quick else 5)
        also = [ref for ref in args.also.split(",") if ref]
        data = cost(10 * scale, rounds, args.before, steps=not args.no_steps, also=also)
        return data, cost_lines(data), True
    data = profile(10 * scale, max(2, args.repeats - 1), args.out)
    return data, profile_lines(data), True


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    """One child process's measurement (``--child``)."""
    if args.child == "ours":
        return child_ours(args)
    if args.child == "stock":
        return child_stock(args)
    import generator_idle
    import generator_profile

    if args.child == "blocking":
        return generator_idle.blocking_paced(args.target, args.duration)
    if args.child == "floor":
        return generator_idle.floor_paced(args.target, args.duration)
    if args.child == "steps":
        import generator_cost

        return generator_cost.steps_child(args.target, args.duration, args.rounds or 6)
    return generator_profile.floor_saturated(args.target, args.duration)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Half-length runs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true", help="Exit 1 when a target is missed")
    parser.add_argument("--only", choices=(*SECTIONS, "bodies"))
    parser.add_argument(
        "--out", type=Path, default=ROOT / "reports" / "bench-generator", help="profile files"
    )
    parser.add_argument("--before", default="main", help="cost: the git ref to compare with")
    parser.add_argument(
        "--also", default="", help="cost: commits between --before and this tree (a,b,...)"
    )
    parser.add_argument("--rounds", type=int, default=0, help="cost: interleaved rounds")
    parser.add_argument("--no-steps", action="store_true", help="cost: before/after only")
    parser.add_argument(
        "--child", choices=("ours", "stock", "blocking", "floor", "floor-sat", "steps")
    )
    parser.add_argument("--target")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--cap", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=0)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--per-user-rate", type=float, default=0)
    parser.add_argument("--tls-ca", help="(child) verify an https:// target against this CA")
    parser.add_argument("--template", action="store_true", help="(child) templated requests")
    args = parser.parse_args(argv)
    if args.only == "bodies":  # 4. request build cost per body kind (benchmarks/bench_bodies.py)
        import bench_bodies  # a sibling: a script's own folder is first on sys.path

        return bench_bodies.main([])
    if args.child:
        print(json.dumps(run_child(args)))
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    numbers: dict[str, Any] = {}
    text: list[str] = []
    ok = True
    load_before = os.getloadavg()[0]
    for name in SECTIONS if args.only is None else (args.only,):
        data, lines, met = run_section(name, args)
        numbers[name] = data
        text += ["", *lines]
        ok = ok and met
    load_after = os.getloadavg()[0]
    numbers["load_average"] = [load_before, load_after]
    text.append(f"\n(load average {load_before:.1f} at start, {load_after:.1f} at end)")
    print("\n".join(text))
    if args.json:
        _write_json(args.json, numbers)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
