"""Local runs of the open-model engine over real HTTP against the known-latency target.

Each run happens in a fresh child process (Locust monkey-patches the process that imports it).
The numbers checked here are sanity bounds; the fidelity comparison with wrk is a benchmark
(benchmarks/bench_generator.py), not a timed unit test.
"""

from __future__ import annotations

import re
import socket
import time

import pytest
from load_support import (
    analytic_stall_p99_ms,
    hist,
    run_child,
    scenario_json,
)

from harness.testing import latency_target


def _phase(out: dict, name: str) -> dict:
    return next(p for p in out["phases"] if p["name"] == name)


@pytest.mark.slow
def test_open_model_run_measures_the_known_distribution(bimodal_target: str) -> None:
    """Every intended request is sent and answered; p50/p99 sit on the target's 2 ms / 40 ms
    modes; intervals account for every arrival; plain progress lines are printed; a CPU limit
    forced down to 0.5% declares the generator saturated (the run is invalid, with the reason)."""
    out = run_child(
        "run",
        scenario_json(
            target=bimodal_target,
            max_concurrency=32,
            generator={"max_cpu_percent": 0.5},
            phases=[
                {"name": "warmup", "kind": "warmup", "rate": 100, "duration_s": 1},
                {"name": "steady", "kind": "steady", "rate": 200, "duration_s": 5},
            ],
        ),
        "--progress",
    )
    warm, steady = _phase(out, "warmup"), _phase(out, "steady")
    assert warm["counts"]["sent"] == warm["counts"]["ok"] == 100
    assert steady["counts"]["sent"] == steady["counts"]["ok"] == 1000
    assert steady["counts"]["unsent"] == steady["counts"]["failed"] == 0
    intended, service = hist(steady["intended_ok"]), hist(steady["service_ok"])
    # On the target's 2 ms / 40 ms modes (nothing can be faster than the target's sleep), with
    # room for a busy 2-core machine: the p50 under a quarter of the slow mode (load average 8
    # lifted it past 3.5 ms), the p99 under 5 times it (a neighbour's burst put half of the 20
    # slow requests at 95-115 ms at load average 3.6; the p99 is the 11th slowest).
    # bench_generator.py is exact.
    assert 2.0 <= intended.percentile_ms(50) < 10.0
    assert 40.0 <= intended.percentile_ms(99) < 200.0
    assert service.percentile_ms(50) <= intended.percentile_ms(50)
    assert sum(i["offered"] for i in out["intervals"]) == 1100
    assert sum(i["ok"] for i in out["intervals"]) == 1100
    assert "offered" in out["_stderr"]
    generator = out["generator"]
    assert generator["cap"] == 32
    assert not generator["valid"]
    assert any("CPU above 0.5%" in r for r in generator["reasons"])
    # No Server-Timing from this target: the slow-request list still comes, with W3C trace ids,
    # and the client-side breakdown puts the 40 ms mode in the wait for the first byte.
    tail = next(t for t in out["tails"] if t["phase"] == "steady")
    assert tail["source"] == "client"
    assert tail["driver"] == "wait", tail["sentence"]
    assert "client side only" in tail["sentence"]
    assert len(tail["slowest"]) == 20
    ids = [row[0] for row in tail["slowest"]]
    assert len(set(ids)) == 20
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert all(row[1] >= 40.0 and row[3] >= row[2] for row in tail["slowest"])
    # The slowest 20 hold the requests above p99 (1% of 1,000).
    assert sum(row[1] >= tail["p99_ms"] * 0.999 for row in tail["slowest"]) >= 10


@pytest.mark.slow
def test_a_stall_is_measured_from_the_intended_send_time() -> None:
    """The target holds every response for 1 s once, at 200 requests/s for 4 s, with only 8
    connection slots: intended-clock p99 matches the analytic value (0.96 s) although the
    service clock (which starts at the delayed send) misses the stall; nothing is skipped."""
    with latency_target("--slow-every", "0", "--stall-after-s", "2.5", "--stall-s", "1") as url:
        out = run_child(
            "run",
            scenario_json(
                target=url,
                max_concurrency=8,
                phases=[{"name": "steady", "kind": "steady", "rate": 200, "duration_s": 4}],
            ),
        )
    steady = _phase(out, "steady")
    assert steady["counts"]["sent"] == steady["counts"]["ok"] == 800
    assert steady["counts"]["late"] > 150
    expected = analytic_stall_p99_ms(200, 4, 1.0)
    p99 = hist(steady["intended_ok"]).percentile_ms(99)
    # Never below the analytic value by more than HDR's and the clock's precision (a generator
    # that timed from the delayed send would show ~2 ms); above it, room for the backlog that
    # drains slower on a busy 2-core machine (+36 ms at load average 9), far below a doubled stall.
    assert -30 < p99 - expected < 150, (p99, expected)
    # The service clock starts at the (delayed) send, so it misses the 1 s stall: its p99 stays
    # far below it (a quarter, room for a busy machine's noise on the target's 2 ms).
    assert hist(steady["service_ok"]).percentile_ms(99) < 250
    assert out["generator"]["cap_hits"] > 150
    assert out["generator"]["peak"] == 8


@pytest.mark.slow
def test_requests_that_never_get_a_slot_are_counted_unsent() -> None:
    """A target that never answers, 2 slots, 500 ms timeouts: slots cycle through timeouts,
    the backlog left at the drain deadline is counted unsent; sent + unsent = offered."""
    with latency_target("--slow-every", "0", "--stall-after-s", "0", "--stall-s", "60") as url:
        out = run_child(
            "run",
            scenario_json(
                target=url,
                max_concurrency=2,
                timeout_ms=500,
                phases=[{"name": "steady", "kind": "steady", "rate": 50, "duration_s": 2}],
            ),
        )
    counts = _phase(out, "steady")["counts"]
    assert counts["ok"] == 0
    assert counts["failed"] == counts["sent"]
    assert 6 <= counts["sent"] <= 16
    assert counts["sent"] + counts["unsent"] == 100
    assert sum(i["offered"] for i in out["intervals"]) == 100


@pytest.mark.slow
def test_an_unreachable_target_fails_promptly() -> None:
    """Nothing listening: TargetUnreachable before any load, within the 5 s probe budget."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    out = run_child(
        "run",
        scenario_json(
            target=f"http://127.0.0.1:{port}",
            phases=[{"name": "steady", "kind": "steady", "rate": 10, "duration_s": 5}],
        ),
    )
    assert out["error"] == "TargetUnreachable"
    assert out["wall_s"] < 8
    assert time.monotonic() - started < 15
