"""evaluate(): objectives per phase and endpoint, sufficiency, and the PASS/FAIL/INVALID verdict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from harness.measure.histogram import HIGHEST_US
from harness.measure.result import Clock, HistKey, Outcome, RunResult
from harness.slo import ObjectiveStatus, VerdictStatus, evaluate
from harness.spec import load_slo, parse_slo
from harness.spec.slo import SloSpec
from harness.testing import generator_health, hist, intervals, lognormal_us, phase
from harness.testing import run_result as run

SLO_DIR = Path(__file__).resolve().parents[2] / "scenarios" / "slo"


def _slo(*objectives: dict[str, object]) -> SloSpec:
    return parse_slo({"name": "t", "objectives": list(objectives)}, "t.yaml")


def _steady(
    values: Sequence[int] | Mapping[str, Sequence[int]],
    *,
    failed: int | Mapping[str, int] = 0,
    shed: int = 0,
    service_us: int = 100,
) -> RunResult:
    return run(phase("steady", ok=values, failed=failed, shed=shed, service_us=service_us))


# -- the default SLO -------------------------------------------------------------------------
def test_healthy_run_passes_default_slo(healthy_run: RunResult, default: SloSpec) -> None:
    """12,000 fast OK responses and no errors pass p99 < 50 ms and error rate < 0.1%."""
    verdict = evaluate(healthy_run, default)
    assert verdict.status is VerdictStatus.PASS
    assert verdict.reasons == ()
    assert [(o.metric, o.phase, o.status) for o in verdict.objectives] == [
        ("latency_p99", "steady", ObjectiveStatus.PASS),
        ("error_rate", "steady", ObjectiveStatus.PASS),
        ("availability", "steady", ObjectiveStatus.PASS),
    ]
    latency = verdict.objectives[0]
    assert latency.observed is not None
    assert latency.observed < 50
    assert (latency.op, latency.threshold, latency.unit, latency.samples) == (
        "<",
        50.0,
        "ms",
        12_000,
    )


def test_slow_run_fails_with_objective_named_in_reasons(default: SloSpec) -> None:
    """A run whose p99 is 60 ms fails the default SLO and the reason names the objective."""
    values = [20_000] * 9_800 + [60_000] * 200
    verdict = evaluate(_steady(values), default)
    assert verdict.status is VerdictStatus.FAIL
    latency = verdict.objectives[0]
    assert latency.status is ObjectiveStatus.FAIL
    assert latency.observed == pytest.approx(60.0, rel=1e-3)
    assert verdict.reasons[0].startswith("p99 latency < 50 ms (phase 'steady'):")
    assert "above the < 50 ms limit" in verdict.reasons[0]


def test_latency_reads_intended_clock_not_service_clock(default: SloSpec) -> None:
    """Coordinated omission: a stall seen only from intended send times still fails p99."""
    values = [5_000] * 9_800 + [700_000] * 200
    result = _steady(values, service_us=5_000)  # the service clock saw only 5 ms
    assert evaluate(result, default).objectives[0].status is ObjectiveStatus.FAIL


def test_failed_and_shed_latencies_do_not_enter_percentiles() -> None:
    """Only OK responses count towards latency percentiles (timeouts are errors, not samples)."""
    result = _steady([10_000] * 2_000, failed=100, shed=100)
    (row,) = evaluate(
        result, _slo({"metric": "latency", "percentile": "max", "threshold_ms": 50})
    ).objectives
    assert row.observed == pytest.approx(10.0, rel=1e-3)
    assert row.samples == 2_000


# -- sufficiency -----------------------------------------------------------------------------
def test_p999_from_300_requests_is_insufficient_not_a_pass() -> None:
    """p99.9 from 300 OK responses is INSUFFICIENT with a reason, and the verdict INVALID."""
    slo = _slo({"metric": "latency", "percentile": "p99.9", "threshold_ms": 50})
    verdict = evaluate(_steady([1_000] * 300), slo)
    (row,) = verdict.objectives
    assert row.status is ObjectiveStatus.INSUFFICIENT
    assert row.passed is None
    assert row.observed is None
    assert "needs at least 10,000 OK responses" in row.reason
    assert "had 300" in row.reason
    assert verdict.status is VerdictStatus.INVALID
    assert verdict.reasons == (f"p99.9 latency < 50 ms (phase 'steady'): {row.reason}",)


def test_failure_wins_over_insufficient() -> None:
    """A failed objective makes the verdict FAIL even when another one is insufficient."""
    slo = _slo(
        {"metric": "latency", "percentile": "p99.9", "threshold_ms": 50},
        {"metric": "latency", "percentile": "p50", "threshold_ms": 5},
    )
    verdict = evaluate(_steady([10_000] * 300), slo)
    assert [o.status for o in verdict.objectives] == [
        ObjectiveStatus.INSUFFICIENT,
        ObjectiveStatus.FAIL,
    ]
    assert verdict.status is VerdictStatus.FAIL
    assert len(verdict.reasons) == 2  # the failure first, then why the run was partly unjudged
    assert verdict.reasons[0].startswith("p50 latency < 5 ms")


def test_out_of_range_latency_fails_instead_of_vanishing() -> None:
    """Responses slower than the 60 s histogram ceiling push p99 beyond range: a FAIL at 60 s."""
    result = _steady([10_000] * 1_000)
    ok = result.phases[0].histograms[HistKey("score", Outcome.OK, Clock.INTENDED)]
    ok.record(HIGHEST_US * 2, 20)  # refused by HDR and counted as out of range
    (row, *_) = evaluate(
        result, _slo({"metric": "latency", "percentile": "p99", "threshold_ms": 50})
    ).objectives
    assert row.status is ObjectiveStatus.FAIL
    assert row.observed == HIGHEST_US / 1000
    assert "beyond the histogram's 60000 ms range" in row.reason


# -- verdict-level invalidity ----------------------------------------------------------------
def test_unhealthy_generator_makes_passing_run_invalid(default: SloSpec) -> None:
    """An unhealthy generator turns an otherwise passing run INVALID, with its reasons."""
    values = lognormal_us(5000, median_ms=10, seed=1)
    reason = "Generator CPU reached 97%, above the 90% limit."
    result = run(
        phase("steady", ok=values), generator=generator_health(valid=False, reasons=(reason,))
    )
    verdict = evaluate(result, default)
    assert verdict.status is VerdictStatus.INVALID
    assert verdict.reasons == (reason,)


def test_verdict_phase_without_requests_is_invalid(default: SloSpec) -> None:
    """A verdict phase that sent nothing cannot pass."""
    verdict = evaluate(run(phase("steady")), default)
    assert verdict.status is VerdictStatus.INVALID
    assert "Phase 'steady' sent no requests, so it cannot be judged." in verdict.reasons


def test_run_without_verdict_phase_is_invalid(default: SloSpec) -> None:
    """A run with only a warm-up phase judges nothing and is INVALID, not PASS."""
    result = run(phase("warmup", ok=[1_000] * 5_000, in_verdict=False))
    verdict = evaluate(result, default)
    assert verdict.status is VerdictStatus.INVALID
    assert verdict.objectives == ()
    assert any("no verdict phase" in r for r in verdict.reasons)


# -- scope -----------------------------------------------------------------------------------
def test_star_evaluates_every_verdict_phase_and_skips_warmup(default: SloSpec) -> None:
    """phase '*' yields one row per verdict phase; a slow warm-up does not fail the run."""
    result = run(
        phase("warmup", ok=[900_000] * 2_000, in_verdict=False),
        phase("steady", ok=[10_000] * 2_000),
        phase("spike", ok=[70_000] * 2_000),
    )
    verdict = evaluate(result, default)
    rows = {(o.metric, o.phase): o.status for o in verdict.objectives}
    assert rows == {
        ("latency_p99", "steady"): ObjectiveStatus.PASS,
        ("latency_p99", "spike"): ObjectiveStatus.FAIL,
        ("error_rate", "steady"): ObjectiveStatus.PASS,
        ("error_rate", "spike"): ObjectiveStatus.PASS,
        ("availability", "steady"): ObjectiveStatus.PASS,
        ("availability", "spike"): ObjectiveStatus.PASS,
    }
    assert verdict.status is VerdictStatus.FAIL


def test_named_phase_and_endpoint_scope() -> None:
    """An objective can name one phase and one endpoint; other phases/endpoints are ignored."""
    result = run(
        phase("steady", ok={"score": [10_000] * 2_000, "infer": [90_000] * 2_000}),
        phase("spike", ok={"score": [90_000] * 2_000}),
    )
    slo = _slo({"metric": "latency", "percentile": "p99", "threshold_ms": 50, "phase": "steady",
                "endpoint": "score"})  # fmt: skip
    (row,) = evaluate(result, slo).objectives
    assert (row.phase, row.endpoint, row.status) == ("steady", "score", ObjectiveStatus.PASS)
    merged = _slo({"metric": "latency", "percentile": "p99", "threshold_ms": 50, "phase": "steady"})
    assert evaluate(result, merged).objectives[0].status is ObjectiveStatus.FAIL


@pytest.mark.parametrize(
    ("phase_name", "reason"),
    [("warmup", "warm-up phase"), ("soak", "no phase named 'soak'")],
)
def test_named_phase_that_cannot_be_judged_is_insufficient(phase_name: str, reason: str) -> None:
    """Naming a warm-up or absent phase is INSUFFICIENT with the reason, never a silent pass."""
    result = run(
        phase("warmup", ok=[1_000] * 2_000, in_verdict=False), phase("steady", ok=[1_000] * 2_000)
    )
    slo = _slo({"metric": "error_rate", "threshold": 0.01, "phase": phase_name})
    verdict = evaluate(result, slo)
    assert verdict.objectives[0].status is ObjectiveStatus.INSUFFICIENT
    assert reason in verdict.objectives[0].reason
    assert verdict.status is VerdictStatus.INVALID


def test_endpoint_without_responses_is_insufficient() -> None:
    """An endpoint that had no OK responses in the phase cannot be judged."""
    slo = _slo({"metric": "latency", "percentile": "p50", "threshold_ms": 50, "endpoint": "infer"})
    (row,) = evaluate(_steady([1_000] * 100), slo).objectives
    assert row.status is ObjectiveStatus.INSUFFICIENT
    assert "endpoint 'infer' had 0" in row.reason


# -- request rates ---------------------------------------------------------------------------
def test_error_rate_is_failed_over_sent() -> None:
    """error_rate = failed / sent (shed requests count as sent, not as failed)."""
    result = _steady([1_000] * 1_980, failed=10, shed=10)
    (row,) = evaluate(result, _slo({"metric": "error_rate", "threshold": 0.001})).objectives
    assert row.observed == pytest.approx(10 / 2_000)
    assert row.status is ObjectiveStatus.FAIL
    assert "10 of 2,000 requests" in row.reason


def test_error_rate_per_endpoint_counts_that_endpoints_histograms() -> None:
    """An endpoint-scoped error rate counts only that endpoint's requests."""
    result = _steady({"score": [1_000] * 2_000, "infer": [1_000] * 1_000}, failed={"infer": 10})
    slo = _slo(
        {"metric": "error_rate", "threshold": 0.001, "endpoint": "score"},
        {"metric": "error_rate", "threshold": 0.001, "endpoint": "infer"},
    )
    score, infer = evaluate(result, slo).objectives
    assert (score.observed, score.status) == (0.0, ObjectiveStatus.PASS)
    assert infer.observed == pytest.approx(10 / 1_010)
    assert infer.status is ObjectiveStatus.FAIL


def test_clean_pass_needs_enough_requests_to_resolve_the_rate() -> None:
    """No failures among 200 requests cannot show an error rate < 0.1%: INSUFFICIENT."""
    slo = _slo({"metric": "error_rate", "threshold": 0.001})
    (few,) = evaluate(_steady([1_000] * 200), slo).objectives
    assert few.status is ObjectiveStatus.INSUFFICIENT
    assert "needs at least 1,000 requests" in few.reason
    (enough,) = evaluate(_steady([1_000] * 1_000), slo).objectives
    assert enough.status is ObjectiveStatus.PASS


def test_observed_breach_fails_whatever_the_sample_size() -> None:
    """5 failures among 100 requests is a FAIL of error rate < 0.1%: those failures happened."""
    (row,) = evaluate(
        _steady([1_000] * 95, failed=5), _slo({"metric": "error_rate", "threshold": 0.001})
    ).objectives
    assert row.status is ObjectiveStatus.FAIL


def test_availability_and_shed_rate() -> None:
    """availability = ok / sent against >= target; shed_rate = shed / sent."""
    result = _steady([1_000] * 9_900, shed=100)
    slo = _slo(
        {"metric": "availability", "target": 0.999},
        {"metric": "availability", "target": 0.99},
        {"metric": "shed_rate", "op": "<=", "threshold": 0.01},
        {"metric": "shed_rate", "threshold": 0.01},
    )
    rows = evaluate(result, slo).objectives
    assert [r.observed for r in rows] == pytest.approx([0.99, 0.99, 0.01, 0.01])
    assert [r.status for r in rows] == [
        ObjectiveStatus.FAIL,
        ObjectiveStatus.PASS,
        ObjectiveStatus.PASS,
        ObjectiveStatus.FAIL,
    ]


def test_throughput_ratio_is_goodput_over_offered() -> None:
    """throughput_ratio = OK responses per second / offered_rps of the phase."""
    # 17,100 OK over 60 s = 285/s of 300 offered: 0.95.
    result = run(phase("steady", ok=[1_000] * 17_100, offered_rps=300.0, achieved_rps=285.0))
    slo = _slo({"metric": "throughput_ratio", "threshold": 0.98},
               {"metric": "throughput_ratio", "threshold": 0.95})  # fmt: skip
    low, ok = evaluate(result, slo).objectives
    assert low.observed == pytest.approx(0.95)
    assert (low.status, ok.status) == (ObjectiveStatus.FAIL, ObjectiveStatus.PASS)


def test_every_kind_example_evaluates(healthy_run: RunResult) -> None:
    """The every-kind example yields a row per objective, phase and burn window, all judged."""
    result = run(*healthy_run.phases, intervals=intervals("steady", ok=[200] * 60))
    verdict = evaluate(result, load_slo(SLO_DIR / "every-kind.yaml"))
    metrics = [o.metric for o in verdict.objectives]
    assert metrics == [
        "latency_p99", "latency_p99_9", "latency_p50", "latency_max", "error_rate",
        "availability", "shed_rate", "throughput_ratio", "burn_rate_30s_5s", "burn_rate_60s_10s",
        "burn_rate_30s_5s",
    ]  # fmt: skip
    assert {o.status for o in verdict.objectives} == {ObjectiveStatus.PASS}
    assert verdict.status is VerdictStatus.PASS


# -- burn rate -------------------------------------------------------------------------------
def _burn_slo(max_burn: float = 14.4) -> SloSpec:
    return _slo({"metric": "burn_rate", "sli": "errors", "target": 0.999,
                 "windows": [{"long_s": 30, "short_s": 5, "max_burn": max_burn}]})  # fmt: skip


def test_error_burst_breaches_multiwindow_burn_rate() -> None:
    """A 10 s burst of 5% errors burns 50x in the short window and >14.4x over 30 s: FAIL."""
    failed = [0] * 30 + [10] * 10 + [0] * 20
    ok = [200 - f for f in failed]
    result = run(phase("steady", ok=[1_000] * 11_900, failed=100),
                 intervals=intervals("steady", ok=ok, failed=failed))  # fmt: skip
    (row,) = evaluate(result, _burn_slo()).objectives
    assert row.status is ObjectiveStatus.FAIL
    assert row.observed == pytest.approx(50 / 3, rel=1e-6)  # 30 s window: 100/6000 / 0.001
    assert (row.metric, row.op, row.threshold, row.unit) == ("burn_rate_30s_5s", "<=", 14.4, "x")
    assert "both exceeded 14.4x" in row.reason


def test_short_spike_alone_does_not_breach() -> None:
    """A 1 s spike burns fast in the short window but not over the long one: PASS."""
    failed = [0] * 30 + [20] + [0] * 29
    ok = [200 - f for f in failed]
    result = run(phase("steady", ok=[1_000] * 11_980, failed=20),
                 intervals=intervals("steady", ok=ok, failed=failed))  # fmt: skip
    (row,) = evaluate(result, _burn_slo()).objectives
    assert row.status is ObjectiveStatus.PASS


def test_phase_shorter_than_long_window_is_insufficient() -> None:
    """A 20 s phase cannot fill a 30 s window: INSUFFICIENT, not PASS."""
    result = run(phase("steady", ok=[1_000] * 4_000),
                 intervals=intervals("steady", ok=[200] * 20))  # fmt: skip
    (row,) = evaluate(result, _burn_slo()).objectives
    assert row.status is ObjectiveStatus.INSUFFICIENT
    assert "need at least 30 s" in row.reason


def test_latency_sli_counts_slow_responses_as_bad() -> None:
    """With the latency SLI, OK responses slower than the threshold burn the budget."""
    latency = [10_000] * 30 + [80_000] * 10 + [10_000] * 20
    result = run(phase("steady", ok=[1_000] * 12_000),
                 intervals=intervals("steady", ok=[200] * 60, latency_us=latency))  # fmt: skip
    slo = _slo({"metric": "burn_rate", "sli": "latency", "target": 0.99, "latency_threshold_ms": 50,
                "windows": [{"long_s": 30, "short_s": 5, "max_burn": 14.4}]})  # fmt: skip
    (row,) = evaluate(result, slo).objectives
    # Worst second: the 5 s window is all slow (100x), the 30 s window a third slow (33.3x).
    assert row.observed == pytest.approx(100 / 3)
    assert row.status is ObjectiveStatus.FAIL


def test_hist_helper_records_exact_values() -> None:
    """The fixture helper stores what it is given (guards the other tests' premises)."""
    assert hist([5, 5, 7]).count == 3


# -- the embedded service's audit trail ------------------------------------------------------
def test_intact_audit_trail_adds_a_passing_objective(
    healthy_run: RunResult, default: SloSpec
) -> None:
    """A verified audit trail appears as a passing 'audit trail intact, decisions reproducible'
    objective."""
    from dataclasses import replace

    from harness.measure.result import AuditCheck

    result = replace(healthy_run, audit=AuditCheck(intact=True, records=12_000, streams=1))
    verdict = evaluate(result, default)
    assert verdict.status is VerdictStatus.PASS
    audit = verdict.objectives[-1]
    assert (audit.metric, audit.status, audit.samples) == (
        "audit_trail_problems",
        ObjectiveStatus.PASS,
        12_000,
    )


def test_broken_audit_trail_fails_an_otherwise_passing_run(
    healthy_run: RunResult, default: SloSpec
) -> None:
    """An OK decision without its audit record fails the run, naming the problem."""
    from dataclasses import replace

    from harness.measure.result import AuditCheck

    problem = "3 OK score responses have no audit record"
    result = replace(
        healthy_run, audit=AuditCheck(intact=False, records=11_997, streams=1, problems=(problem,))
    )
    verdict = evaluate(result, default)
    assert verdict.status is VerdictStatus.FAIL
    assert any(problem in r for r in verdict.reasons)


def test_fast_failures_do_not_count_as_throughput() -> None:
    """A phase answering half its requests with errors reaches only half its throughput target."""
    result = run(phase("steady", ok=[1_000] * 9_000, failed=9_000, offered_rps=300.0))
    [row] = evaluate(result, _slo({"metric": "throughput_ratio", "threshold": 0.98})).objectives
    assert row.observed == pytest.approx(0.5)
    assert row.status is ObjectiveStatus.FAIL


def test_unhealthy_generator_makes_even_a_breach_invalid(default: SloSpec) -> None:
    """A saturated generator makes the run INVALID (exit 3) even when p99 breached: its stall
    polluted the latencies, so the breach is not evidence against the service."""
    from dataclasses import replace

    slow = _steady([20_000] * 9_800 + [60_000] * 200)
    sick = replace(slow, generator=replace(slow.generator, valid=False, reasons=("CPU 99%",)))
    verdict = evaluate(sick, default)
    assert verdict.status is VerdictStatus.INVALID
    assert verdict.reasons == ("CPU 99%",)


def test_default_slo_fails_a_service_that_sheds_its_traffic(default: SloSpec) -> None:
    """A target that answers 40% of requests with a quick 503 (shed, not failed) keeps its error
    rate at 0 and its OK latencies fast, yet fails the default SLO on availability."""
    verdict = evaluate(_steady([1_000] * 6_000, shed=4_000), default)
    by_metric = {o.metric: o for o in verdict.objectives}
    assert by_metric["error_rate"].status is ObjectiveStatus.PASS
    assert by_metric["latency_p99"].status is ObjectiveStatus.PASS
    assert by_metric["availability"].status is ObjectiveStatus.FAIL
    assert by_metric["availability"].observed == pytest.approx(0.6)
    assert verdict.status is VerdictStatus.FAIL
