"""The load schedule: intended send times from a scenario's rate, split across workers; the mix."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load import EndpointPicker, arrivals, intended_times
from harness.load.schedule import time_for
from harness.spec import Arrival, Endpoint, MixEntry, Scenario, Segment
from harness.spec.phases import RampPhase, SteadyPhase, WarmupPhase


def _scenario(*phases: object, **kw: object) -> Scenario:
    return Scenario(name="t", phases=phases, **kw)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=2000), duration=st.integers(min_value=1, max_value=20)
)
def test_constant_arrivals_give_exactly_rate_times_duration(rate: int, duration: int) -> None:
    """A constant phase at R for T seconds schedules exactly R*T sends, evenly spaced."""
    phase = SteadyPhase(name="s", rate=rate, duration_s=duration)
    times = list(intended_times(phase, 3.0, random.Random(0)))
    assert len(times) == rate * duration
    assert times[0] == 3.0
    assert times[-1] < 3.0 + duration
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps <= {round(1 / rate, 9)} or len(times) == 1


@settings(max_examples=40, deadline=None)
@given(
    from_rate=st.integers(min_value=0, max_value=500),
    to_rate=st.integers(min_value=1, max_value=500),
    duration=st.integers(min_value=1, max_value=30),
)
def test_constant_ramp_count_is_the_integral(from_rate: int, to_rate: int, duration: int) -> None:
    """A constant-arrival ramp schedules ceil(integral of the rate) sends, in order."""
    phase = RampPhase(name="r", from_rate=from_rate, to_rate=to_rate, duration_s=duration)
    times = list(intended_times(phase, 0.0, random.Random(0)))
    expected = (from_rate + to_rate) / 2 * duration
    assert abs(len(times) - expected) <= 1
    assert times == sorted(times)
    assert all(0 <= t < duration for t in times)


def test_ramp_arrivals_follow_the_rate() -> None:
    """In a 0 -> 1000/s ramp over 10 s, the second half holds 3x the first half's sends."""
    phase = RampPhase(name="r", from_rate=0, to_rate=1000, duration_s=10)
    times = list(intended_times(phase, 0.0, random.Random(0)))
    first = sum(1 for t in times if t < 5)
    assert first == pytest.approx(1250, abs=1)
    assert len(times) - first == pytest.approx(3750, abs=1)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poisson_arrivals_have_the_right_mean_and_spread(seed: int) -> None:
    """Poisson at 500/s for 20 s: count within 4 sigma of 10,000; gaps have CV near 1."""
    phase = SteadyPhase(name="s", rate=500, duration_s=20)
    times = list(intended_times(phase, 0.0, random.Random(seed), Arrival.POISSON))
    assert abs(len(times) - 10_000) < 4 * 100  # sigma = sqrt(10,000)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = sum(gaps) / len(gaps)
    sd = (sum((g - mean) ** 2 for g in gaps) / len(gaps)) ** 0.5
    assert mean == pytest.approx(1 / 500, rel=0.05)
    assert sd / mean == pytest.approx(1.0, abs=0.05)


def test_poisson_arrivals_are_reproducible() -> None:
    """The same seed gives the same intended times."""
    phase = RampPhase(name="r", from_rate=10, to_rate=300, duration_s=5)
    a = list(intended_times(phase, 0.0, random.Random(42), Arrival.POISSON))
    b = list(intended_times(phase, 0.0, random.Random(42), Arrival.POISSON))
    assert a == b


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=5),
    arrival=st.sampled_from(list(Arrival)),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_parts_split_one_schedule_exactly(n: int, arrival: Arrival, seed: int) -> None:
    """n workers with part=(k, n) and one seed together send exactly the single schedule."""
    s = _scenario(
        WarmupPhase(name="w", rate=50, duration_s=1),
        RampPhase(name="r", from_rate=50, to_rate=150, duration_s=2),
        arrival=arrival,
    )
    whole = [t for _, t in arrivals(s, random.Random(seed))]
    parts = [t for k in range(n) for _, t in arrivals(s, random.Random(seed), part=(k, n))]
    assert sorted(parts) == whole


def test_bad_part_is_refused() -> None:
    """part must satisfy 0 <= k < n."""
    with pytest.raises(ValueError, match="part"):
        list(
            intended_times(
                SteadyPhase(name="s", rate=1, duration_s=1), 0, random.Random(0), part=(2, 2)
            )
        )


def test_arrivals_carry_their_phase() -> None:
    """arrivals() yields each intended time with its scheduled phase."""
    s = _scenario(
        WarmupPhase(name="w", rate=10, duration_s=1), SteadyPhase(name="s", rate=20, duration_s=1)
    )
    names = Counter(sp.phase.name for sp, _ in arrivals(s, random.Random(0)))
    assert names == {"w": 10, "s": 20}


def test_endpoint_picker_follows_weights() -> None:
    """Endpoints are drawn in proportion to their weights, reproducibly."""
    mix = (
        MixEntry(endpoint=Endpoint.SCORE, weight=90),
        MixEntry(endpoint=Endpoint.INFER, weight=8),
        MixEntry(endpoint=Endpoint.HEALTH, weight=2),
    )
    picker = EndpointPicker(mix, seed=1)
    counts = Counter(picker.next() for _ in range(20_000))
    assert counts[Endpoint.SCORE] / 20_000 == pytest.approx(0.90, abs=0.01)
    assert counts[Endpoint.INFER] / 20_000 == pytest.approx(0.08, abs=0.01)
    assert counts[Endpoint.HEALTH] / 20_000 == pytest.approx(0.02, abs=0.005)
    again = EndpointPicker(mix, seed=1)
    first = EndpointPicker(mix, seed=1)
    assert [again.next() for _ in range(50)] == [first.next() for _ in range(50)]


@settings(max_examples=300, deadline=None)
@given(
    st.floats(1e-3, 1e7, allow_nan=False) | st.integers(1, 10**7),
    st.floats(1e-3, 1e5, allow_nan=False),
    st.floats(0.0, 1.0),
)
def test_a_constant_segment_takes_the_exact_short_form(
    rate: float, duration: float, u: float
) -> None:
    """At a constant rate time_for(seg, x) is x / rate bit for bit (the schedule's short form)."""
    seg = Segment(duration_s=duration, r0=rate, r1=rate)
    x = u * seg.expected
    assert time_for(seg, x) == x / rate


@pytest.mark.parametrize("arrival", [Arrival.CONSTANT, Arrival.POISSON])
def test_the_short_form_gives_the_same_schedule(arrival: Arrival) -> None:
    """A steady phase and a ramp give the same intended times as time_for everywhere does."""
    steady = SteadyPhase(name="s", rate=333.3, duration_s=7.0)
    ramp = RampPhase(name="r", from_rate=10, to_rate=400, duration_s=5)
    for phase in (steady, ramp):
        fast = list(intended_times(phase, 2.5, random.Random(3), arrival))
        seg_start, carry, plain = 2.5, 0.0, []
        rng = random.Random(3)
        poisson = arrival is Arrival.POISSON
        carry = rng.expovariate(1.0) if poisson else 0.0
        for seg in phase.segments():
            limit = seg.expected if poisson else seg.expected - 1e-9
            while carry < limit:
                plain.append(seg_start + time_for(seg, carry))
                carry += rng.expovariate(1.0) if poisson else 1.0
            carry -= seg.expected
            seg_start += seg.duration_s
        assert fast == plain
