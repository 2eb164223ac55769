"""The reference service's Server-Timing header and its two slow-stage test hooks."""

from __future__ import annotations

import asyncio
import re

import pytest
from svc_support import Service, ServiceFactory

from harness.measure import parse_server_timing
from reference_service.debughooks import SlowStore, stalling_fsync
from reference_service.featurestore import InProcessStore
from reference_service.timing import STAGES, StageTimer

_DUR = re.compile(r"^[a-z]+;dur=[0-9]+\.[0-9]{3}(;desc=\"degraded\")?$")


def _stages(header: str) -> dict[str, float]:
    return {s.name: s.dur_ms or 0.0 for s in parse_server_timing(header)}


def test_score_answers_with_every_stage(service: Service) -> None:
    """A decision carries Server-Timing with each stage of the path and a total covering them."""
    r = service.score()
    assert r.status_code == 200
    header = r.headers["server-timing"]
    assert all(_DUR.match(part) for part in header.split(", ")), header
    stages = _stages(header)
    path = ["queue", "decode", "tokenise", "features", "model", "audit", "encode"]
    assert list(stages) == [*path, "total"]
    assert stages["total"] >= sum(v for k, v in stages.items() if k != "total") - 0.01
    assert "degraded" not in header


def test_infer_and_errors_are_timed_too(service: Service) -> None:
    """V2 infer reports its model stage; a rejected body still gets a header (decode only)."""
    bad = service.client.post(
        "/v1/score", content=b"{", headers={"content-type": "application/json"}
    )
    assert bad.status_code == 400
    assert "decode" in _stages(bad.headers["server-timing"])
    health = service.client.get("/v2/health/ready")
    assert "server-timing" not in health.headers  # only admitted (scoring) routes are timed


def test_the_slow_stage_hooks_show_in_their_stages(services: ServiceFactory) -> None:
    """One service with both hooks: every 2nd lookup 40 ms late (budget 10 ms) and every fsync
    30 ms late. Those lookups are degraded and the header says so on the features stage, which
    took about the budget; every durable decision's audit stage holds the fsync stall."""
    svc = services.start(
        *("--debug-feature-delay-ms", "40", "--debug-feature-delay-every", "2"),
        *("--debug-fsync-delay-ms", "30", "--debug-fsync-delay-every", "1"),
    )
    replies = [svc.score() for _ in range(4)]
    degraded = [r for r in replies if r.json()["degraded"]]
    assert len(degraded) == 2
    for r in degraded:
        header = r.headers["server-timing"]
        assert "features;dur=" in header
        assert 'desc="degraded"' in header
        assert 8.0 <= _stages(header)["features"] < 40.0
    for r in replies:
        stages = _stages(r.headers["server-timing"])
        assert stages["audit"] >= 29.0
        assert stages["model"] < 29.0


def test_stage_timer_charges_every_lap_to_one_stage() -> None:
    """Laps accumulate per stage; the header lists stages in path order, then total."""
    timer = StageTimer(0.0)
    timer.durations = {"audit": 0.002, "queue": 0.001}
    timer._last = 0.004
    timer.degraded = True
    assert timer.header_value() == b"queue;dur=1.000, audit;dur=2.000, total;dur=4.000"
    timer.durations["features"] = 0.0005
    assert b'features;dur=0.500;desc="degraded"' in timer.header_value()
    assert set(STAGES) >= {"queue", "decode", "tokenise", "features", "model", "audit", "encode"}


def test_hooks_reject_a_zero_period() -> None:
    """A hook period below 1 is refused (the flags are checked too)."""
    with pytest.raises(ValueError, match="every"):
        SlowStore(InProcessStore(), 0.01, 0)
    with pytest.raises(ValueError, match="every"):
        stalling_fsync(lambda s, n: None, 0.01, 0)


def test_slow_store_delays_every_nth_lookup() -> None:
    """Every 3rd lookup waits; the others answer at once; writes pass through."""
    store = SlowStore(InProcessStore(), 0.05, 3)

    async def go() -> list[float]:
        loop = asyncio.get_running_loop()
        took = []
        for _ in range(3):
            t = loop.time()
            await store.velocity("tok", 1000.0)
            took.append(loop.time() - t)
        await store.record("tok", 1000.0, 5.0)
        v = await store.velocity("tok", 1001.0)
        assert v.count_1h == 1
        return took

    took = asyncio.run(go())
    assert max(took[:2]) < 0.04
    assert took[2] >= 0.049
