"""Where the model runs (issue 10, hole 10): the inference policy, the ballast model, admission.

Unit tests, no service process: the policy's decisions on measured medians (a fake clock), the
thread hop (results, exceptions, waits reported), the ballast's GIL release (the event loop keeps
turning while it runs), the pipeline scoring each request's own features when offloaded, and
admission keeping waiting-for-the-thread out of the no-queue time.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from svc_support import transaction

from reference_service.admission import Admission
from reference_service.audit import AuditRecord
from reference_service.config import ConfigError, parse_args
from reference_service.decision import DEFAULT_THRESHOLDS
from reference_service.featurestore import BudgetedFeatures, InProcessStore
from reference_service.inference import (
    INLINE_BELOW_S,
    INLINE_EVERY,
    OFFLOAD_ABOVE_S,
    SAMPLE,
    Inference,
    InferencePolicy,
)
from reference_service.model.ballast import BallastScorer, build_ballast, default_ballast_path
from reference_service.model.features import N_FEATURES
from reference_service.model.scorer import FakeScorer
from reference_service.pan import PanTokenizer
from reference_service.pipeline import ScorePipeline

KEY = bytes(range(32))


class _Clock:
    """A fake ``perf_counter`` that only the timed calls advance."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _feed(run: Inference, clock: _Clock, call_s: float, n: int = SAMPLE * INLINE_EVERY) -> None:
    def call() -> None:
        clock.now += call_s

    for _ in range(n):
        run.inline(call)


def test_auto_policy_follows_the_median_call_with_hysteresis() -> None:
    """auto: inline below 0.5 ms, offloaded above it, and back inline only below 0.25 ms."""
    clock = _Clock()
    run = Inference(InferencePolicy.AUTO, p50_s=27e-6, clock=clock)  # the packaged model's call
    try:
        assert not run.offloaded
        _feed(run, clock, OFFLOAD_ABOVE_S * 0.9)
        assert not run.offloaded
        _feed(run, clock, 4e-3)  # a heavy model
        assert run.offloaded
        assert run.p50_s == pytest.approx(4e-3)
        _feed(run, clock, (OFFLOAD_ABOVE_S + INLINE_BELOW_S) / 2)  # between the two lines
        assert run.offloaded
        _feed(run, clock, INLINE_BELOW_S * 0.5)
        assert not run.offloaded
    finally:
        run.close()


def test_fixed_policies_ignore_the_median() -> None:
    """inline stays inline for a 10 ms model; thread offloads a 10 us one."""
    clock = _Clock()
    inline = Inference(InferencePolicy.INLINE, p50_s=10e-3, clock=clock)
    thread = Inference(InferencePolicy.THREAD, p50_s=10e-6)
    try:
        _feed(inline, clock, 10e-3)
        assert not inline.offloaded
        assert thread.offloaded
    finally:
        inline.close()
        thread.close()


def test_offloaded_calls_return_results_and_errors_and_report_their_wait() -> None:
    """Two 30 ms calls on one thread: both results come back, the second waited about 30 ms
    (reported for admission), busy time counts both; an exception reaches the caller."""
    waits: list[float] = []
    run = Inference(InferencePolicy.THREAD, 1, on_wait=waits.append)

    def model(x: float) -> float:
        time.sleep(0.03)
        return x * 2

    def broken() -> None:
        raise ValueError("bad matrix")

    async def go() -> list[float]:
        return list(await asyncio.gather(run.offload(model, 1.0), run.offload(model, 2.0)))

    try:
        assert asyncio.run(go()) == [2.0, 4.0]
        assert sorted(waits)[0] < 0.02 < sorted(waits)[1]
        assert run.busy_s() >= 0.055
        with pytest.raises(ValueError, match="bad matrix"):
            asyncio.run(run.offload(broken))
    finally:
        run.close()


def _python_runs_during(call: Callable[[], object]) -> int:
    """How many times this thread ran Python while ``call`` ran on another thread. This thread
    gives the GIL away at every turn (``sleep(0)``) and the switch interval is raised to 1 s: a
    call that holds the GIL for less than that (wall time, even on a loaded machine) is never
    made to give it back, so the answer is 0 for it and large for a call that releases it."""
    span: list[float] = []

    def timed() -> None:
        t = time.perf_counter()
        call()
        span.extend((t, time.perf_counter()))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1.0)
    ticks: list[float] = []
    try:
        worker = threading.Thread(target=timed)
        worker.start()
        while worker.is_alive():
            ticks.append(time.perf_counter())
            time.sleep(0)
        worker.join()
    finally:
        sys.setswitchinterval(old)
    return sum(span[0] < t < span[1] for t in ticks)


def test_the_ballast_releases_the_gil_as_onnx_runtime_does() -> None:
    """While a 40 ms ballast model runs on another thread, this thread keeps running Python (the
    GIL is released, as for any ONNX Runtime call); a 40 ms Python spin, the older hook, lets it
    run not once."""
    scorer = BallastScorer.load(FakeScorer(), 40.0)
    row = np.zeros((1, N_FEATURES), dtype=np.float32)

    def spin() -> None:
        end = time.thread_time() + 0.04
        while time.thread_time() < end:
            pass

    assert _python_runs_during(lambda: scorer.score(row)) > 100
    assert _python_runs_during(spin) == 0


def test_the_ballast_burns_its_calibrated_cpu_and_keeps_the_answer() -> None:
    """A 5 ms ballast costs about 5 ms of thread CPU per call (median; tolerant: a shared
    machine), and the score is the inner model's."""
    inner = FakeScorer()
    scorer = BallastScorer.load(inner, 5.0)
    row = np.full((1, N_FEATURES), 0.3, dtype=np.float32)
    costs = []
    for _ in range(7):
        c = time.thread_time()
        got = scorer.score(row)
        costs.append(time.thread_time() - c)
    assert np.array_equal(got, inner.score(row))
    assert 2.5e-3 < sorted(costs)[3] < 10e-3, costs


def test_the_committed_ballast_is_the_built_graph() -> None:
    """ballast.onnx is what build_ballast() makes (regenerate: python -m
    reference_service.model.ballast)."""
    onnx = pytest.importorskip("onnx")
    committed = onnx.load_model_from_string(default_ballast_path().read_bytes())
    built = onnx.load_model_from_string(build_ballast())
    assert committed.graph == built.graph


def test_offloaded_pipeline_scores_and_records_each_requests_own_features(
    tmp_path: Path,
) -> None:
    """Concurrent requests offloaded to the thread each get the score of their own features
    (the pipeline's shared row is re-encoded by the next request while one waits)."""
    records: list[AuditRecord] = []

    class Trail:
        async def append(self, rec: AuditRecord) -> None:
            records.append(rec)

    scorer = FakeScorer(delay_s=0.01)
    run = Inference(InferencePolicy.THREAD, 2)
    pipe = ScorePipeline(
        tokenizer=PanTokenizer(KEY),
        features=BudgetedFeatures(InProcessStore(), 0.01),
        scorer=scorer,
        thresholds=DEFAULT_THRESHOLDS,
        audit=Trail(),
        on_decision=lambda _: None,
        on_cpu=lambda _: None,
        inference=run,
    )
    amounts = [5.0, 9_000.0, 40.0, 2_500.0]
    bodies = [
        json.dumps(transaction(amount=a, card_token=f"tok_offload{i}")).encode()
        for i, a in enumerate(amounts)
    ]

    async def go() -> list[bytes]:
        return list(
            await asyncio.gather(*(pipe.handle(b, f"r{i}", 0.0) for i, b in enumerate(bodies)))
        )

    try:
        outs = [json.loads(o) for o in asyncio.run(go())]
    finally:
        run.close()
    by_id = {rec.request_id: rec for rec in records}
    for out in outs:
        rec = by_id[out["request_id"]]
        x = np.frombuffer(rec.features, dtype="<f4").reshape(1, N_FEATURES)
        assert out["score"] == rec.score == pytest.approx(float(FakeScorer.expected(x)[0]))
    assert len({o["score"] for o in outs}) == len(amounts)


def test_admission_does_not_count_waiting_for_the_thread_as_own_time() -> None:
    """8 closed-loop clients on a 4 ms model behind one inference thread: each request spends
    32 ms in the worker, 28 of them waiting for the thread. The no-queue time is 4 ms, so the
    limit comes down to (4 + 12.5) ms x 250/s = 4, not (32 + 12.5) x 250 = 11."""
    busy = [0.0]
    adm = Admission(latency_budget_s=0.05, now=0.0, cpu_clock=lambda: 0.0)
    adm.bound_by(lambda: busy[0])
    now = 0.0
    for _ in range(2000):  # 8 s at 250 completions/s
        assert adm.try_enter() or adm.in_flight >= adm.limit
        if adm.in_flight == 0:
            continue
        now += 0.004
        busy[0] += 0.004
        adm.waited(0.028)
        adm.leave(now, wall_s=0.032)
    assert adm.capacity_per_s == pytest.approx(250.0, rel=0.05)
    assert adm.limit == 4


def test_busy_clock_bounds_the_optimistic_start() -> None:
    """Light traffic through a 4 ms inference thread (never saturated) brings the optimistic
    2,500/s estimate down to the thread's 250 calls per busy second."""
    busy = [0.0]
    adm = Admission(latency_budget_s=0.05, now=0.0, cpu_clock=lambda: 0.0)
    adm.bound_by(lambda: busy[0])
    assert adm.limit > 30
    now = 0.0
    for _ in range(200):  # 100 requests/s, each 4 ms on the thread
        assert adm.try_enter()
        now += 0.01
        busy[0] += 0.004
        adm.leave(now, wall_s=0.0045)
    assert adm.capacity_per_s == pytest.approx(250.0, rel=0.05)
    assert adm.limit <= 5


def test_inference_flags_are_checked() -> None:
    """--inference takes inline/thread/auto (default auto); --inference-threads 1..64."""
    assert parse_args([]).inference is InferencePolicy.AUTO
    assert parse_args(["--inference", "thread", "--inference-threads", "2"]).inference_threads == 2
    with pytest.raises(SystemExit):
        parse_args(["--inference", "gpu"])
    with pytest.raises(ConfigError, match="--inference-threads"):
        parse_args(["--inference-threads", "0"])
    with pytest.raises(ConfigError, match="--debug-model-cpu-ms"):
        parse_args(["--debug-model-cpu-ms", "-1"])
