"""A game day on the run's clock: warm-up offset, --time-scale, floors for judgement and aborts."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.chaos.gameday import make_plan
from harness.chaos.gameday.plan import MIN_ABORT_INTERVALS
from harness.spec.gameday import BurnRateAbort, ErrorRateAbort, load_gameday

ROOT = Path(__file__).resolve().parents[2]
FS = ROOT / "scenarios" / "gamedays" / "feature-store-latency.yaml"


def test_unscaled_plan_starts_after_the_warmup() -> None:
    """Step times are offsets from the end of the warm-up; the load lasts baseline to recovery."""
    plan = make_plan(load_gameday(FS))
    (step,) = plan.steps
    assert plan.warmup_s == 10.0
    assert (step.start_s, step.end_s) == (40.0, 100.0)
    assert plan.end_s == 160.0
    assert plan.gameday_s == 150.0
    assert (plan.window_s, plan.hold_s) == (5.0, 10.0)


def test_time_scale_shrinks_everything_but_the_rate() -> None:
    """At 0.1 a 150 s game day runs 15 s: steps, recovery, window, hold scale; abort durations
    scale but keep at least three intervals; the load's rate and the warm-up do not change."""
    gd = load_gameday(FS)
    plan = make_plan(gd, 0.1)
    (step,) = plan.steps
    assert (step.start_s, step.end_s) == pytest.approx((13.0, 19.0))
    assert plan.end_s == pytest.approx(25.0)
    assert plan.gameday_s == pytest.approx(15.0)
    assert (plan.window_s, plan.hold_s) == (1.0, 1.0)
    err, _lat, burn = plan.aborts
    assert isinstance(err, ErrorRateAbort)
    assert err.for_s == MIN_ABORT_INTERVALS
    assert isinstance(burn, BurnRateAbort)
    assert burn.windows_s == pytest.approx((6.0, 30.0))
    assert gd.scenario.main.mean_rate == 300


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_a_nonsense_time_scale_is_refused(scale: float) -> None:
    """0, negative, NaN and infinity are not time scales."""
    with pytest.raises(ValueError, match="time scale"):
        make_plan(load_gameday(FS), scale)
