"""Where the tail went: the breakdown math over synthetic runs whose cause is known.

Each run is built request by request: every request has the reference service's stages with
small noise; a chosen share of them gets a large extra time in one chosen stage (the cause). The
requests go through the generator's real TailSampler, the histograms hold every latency, and the
explanation must find the cause (or, with no cause, find none).
"""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.slo import TimingSource, compare, explain_tails, explain_windows, stage_shift
from harness.slo.tail import request_stages
from harness.testing import traced_run

CAUSES = ("features", "model", "audit", "queue", "decode")


_run = traced_run


@settings(max_examples=15, deadline=None)
@given(
    st.sampled_from(CAUSES),
    st.floats(0.02, 0.08),
    st.floats(5.0, 80.0),
    st.integers(0, 2**16),
)
def test_the_cause_is_named(cause: str, share: float, extra_ms: float, seed: int) -> None:
    """Whatever stage is slowed, in 2-8% of 2,000 requests by 5-80 ms, it is the driver; it is
    high in most tail requests; a slowed feature lookup shows as degraded decisions."""
    (e,) = explain_tails(_run(2000, cause, share, extra_ms, seed))
    assert e.source is TimingSource.SERVER
    assert e.driver == cause, e.sentence()
    assert e.server_driver == cause
    assert e.deltas[0].stage == cause
    assert e.deltas[0].elevated_share >= 0.5
    assert e.median is not None
    assert e.tail is not None
    assert e.median.degraded_share == 0.0
    if cause == "features":
        assert e.tail.degraded_share >= 0.5
        assert "decisions degraded" in e.sentence()
    assert e.sentence().startswith("p99 driven by ")


@settings(max_examples=15, deadline=None)
@given(st.integers(300, 3000), st.integers(0, 2**16))
def test_without_a_cause_the_tail_is_within_noise(n: int, seed: int) -> None:
    """Stages that only jitter name no driver: the tail's breakdown is within noise."""
    (e,) = explain_tails(_run(n, None, 0.0, 0.0, seed))
    assert e.driver is None, e.sentence()
    assert e.server_within_noise
    assert e.within_noise
    assert "within noise" in e.sentence()


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([*CAUSES, None]), st.floats(0.0, 50.0), st.integers(0, 2**16))
def test_band_stages_add_up_to_the_band_latency(
    cause: str | None, extra_ms: float, seed: int
) -> None:
    """Each request's stages sum to its latency, so each band's mean stages sum to its mean
    latency, and the stage differences sum to the latency difference."""
    (e,) = explain_tails(_run(800, cause, 0.05, extra_ms, seed))
    for r in e.slowest:
        stages = request_stages(r, TimingSource.SERVER)
        assert stages is not None
        assert math.isclose(sum(stages.values()), r.latency_ms, abs_tol=0.01)
    assert e.median is not None
    assert e.tail is not None
    for band in (e.median, e.tail):
        assert math.isclose(sum(v for _, v in band.stages), band.latency_ms, abs_tol=0.01)
    total = sum(d.delta_ms for d in e.deltas)
    assert math.isclose(total, e.tail.latency_ms - e.median.latency_ms, abs_tol=0.02)
    assert [d.delta_ms for d in e.deltas] == sorted((d.delta_ms for d in e.deltas), reverse=True)


def test_without_server_timing_the_client_side_is_shown() -> None:
    """A service sending no Server-Timing: client stages, the wait named, the sentence says so;
    the slowest requests are still listed with their trace ids."""
    (e,) = explain_tails(_run(2000, "audit", 0.05, 30.0, 1, server=False))
    assert e.source is TimingSource.CLIENT
    assert e.driver == "wait"
    assert e.server_driver is None
    assert "client side only" in e.sentence()
    assert len(e.slowest) == 20
    assert e.slowest[0].latency_ms == max(r.latency_ms for r in e.slowest)


def test_a_fault_window_shows_what_the_fault_did() -> None:
    """Feature lookups slowed only between 4 s and 6 s: that window's breakdown names feature
    lookup, not the model."""
    run = _run(2000, "features", 0.0, 25.0, 2, window=(4.0, 6.0))
    (w,) = explain_windows(run)
    assert w.window == "slow"
    assert w.driver == "features", w.sentence()
    assert w.sentence().startswith("fault 'slow' driven by feature lookup")


def test_compare_names_the_stage_that_moved() -> None:
    """Baseline healthy, candidate with audit stalls: the flagged p99 names the audit stage;
    runs without stage timings name none."""
    base = _run(4000, None, 0.0, 0.0, 3)
    new = _run(4000, "audit", 0.03, 40.0, 4)
    flagged = [m for m in compare(base, new).metrics if m.regressed]
    assert flagged
    p99 = next(m for m in flagged if m.metric == "p99")
    assert p99.stage == "audit"
    assert p99.stage_delta_ms is not None
    assert p99.stage_delta_ms > 20
    assert "the stage that moved: audit fsync wait" in p99.reason
    bare = compare(dataclasses.replace(base, tails=()), new)
    assert all(m.stage is None for m in bare.metrics)
    (b,) = explain_tails(base)
    (n,) = explain_tails(new)
    shift = stage_shift(b, n)
    assert shift is not None
    assert shift[0] == "audit"


def test_an_endpoint_without_ok_responses_is_explained_without_bands() -> None:
    """Every answer an error (e.g. all 401): no OK latency, so no bands and no driver; the slowest
    requests are still listed and the sentence says why, instead of crashing the report."""
    from harness.measure import Outcome
    from harness.testing import phase

    run = _run(600, None, 0.0, 0.0, 5)
    errors = tuple(
        dataclasses.replace(
            t,
            requests=tuple(
                dataclasses.replace(r, outcome=Outcome.FAILED.value) for r in t.requests
            ),
        )
        for t in run.tails
    )
    failed = dataclasses.replace(run, phases=(phase("steady", ok=(), failed=600),), tails=errors)
    (e,) = explain_tails(failed)
    assert e.median is None
    assert e.tail is None
    assert e.driver is None
    assert e.deltas == ()
    assert isinstance(e.sentence(), str)
    assert e.sentence()
