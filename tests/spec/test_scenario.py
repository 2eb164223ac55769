"""Scenario files: the shipped ones, the rate schedule, arrivals and overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.measure import PhaseKind
from harness.spec import Endpoint, load_scenario
from harness.spec.phases import RampPhase, SpikePhase, SteadyPhase, Step, StepPhase, WarmupPhase
from harness.spec.scenario import Scenario, scenario_ref

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _scenario(*phases: object, **kw: object) -> Scenario:
    return Scenario(name="t", phases=phases, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["steady", "ramp", "spike", "soak"])
def test_shipped_scenarios_load(name: str) -> None:
    """Every scenario under scenarios/ parses and has a measured main phase."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    assert scenario.name == name
    assert scenario.main.in_verdict
    assert scenario.phases[0].kind is PhaseKind.WARMUP
    assert scenario.target is None  # the embedded reference service


def test_steady_is_the_one_minute_ci_gate() -> None:
    """steady.yaml: 10 s warm-up at 200/s, then 45 s at 300/s, mostly score."""
    s = load_scenario(SCENARIOS / "steady.yaml")
    warm, steady = s.phases
    assert isinstance(warm, WarmupPhase)
    assert (warm.rate, warm.duration_s) == (200, 10)
    assert isinstance(steady, SteadyPhase)
    assert (steady.rate, steady.duration_s) == (300, 45)
    assert s.main.name == "steady"
    assert 50 <= s.duration_s <= 70
    weights = {m.endpoint: m.weight for m in s.mix}
    assert weights[Endpoint.SCORE] > weights[Endpoint.INFER] > weights[Endpoint.HEALTH]


def test_ramp_scenario_climbs_to_find_the_knee() -> None:
    """ramp.yaml ramps from 100 to 2000 requests/s."""
    s = load_scenario(SCENARIOS / "ramp.yaml")
    assert isinstance(s.main, RampPhase)
    assert (s.main.from_rate, s.main.to_rate) == (100, 2000)
    assert s.peak_rate == 2000


def test_soak_is_long() -> None:
    """soak.yaml lasts at least 30 minutes."""
    assert load_scenario(SCENARIOS / "soak.yaml").duration_s >= 1800


def test_schedule_places_phases_back_to_back() -> None:
    """Phase metas start where the previous phase ended and carry the mean rate."""
    s = _scenario(
        WarmupPhase(name="w", rate=10, duration_s=5),
        RampPhase(name="r", from_rate=0, to_rate=100, duration_s=10),
        StepPhase(name="s", steps=(Step(rate=5, duration_s=2), Step(rate=15, duration_s=2))),
    )
    metas = s.phase_metas()
    assert [(m.name, m.start_s, m.duration_s) for m in metas] == [
        ("w", 0, 5),
        ("r", 5, 10),
        ("s", 15, 4),
    ]
    assert [m.offered_rps for m in metas] == [10, 50, 10]
    assert [m.in_verdict for m in metas] == [False, True, True]
    assert s.main.name == "r"
    assert s.duration_s == 19


def test_rate_at_follows_each_shape() -> None:
    """rate_at gives the intended rate of ramps, steps and spikes at any time."""
    spike = SpikePhase(
        name="p", base_rate=10, spike_rate=100, spike_start_s=5, spike_duration_s=2, duration_s=10
    )
    s = _scenario(
        RampPhase(name="r", from_rate=100, to_rate=200, duration_s=10),
        StepPhase(name="s", steps=(Step(rate=5, duration_s=2), Step(rate=15, duration_s=2))),
        spike,
    )
    assert s.rate_at(0) == 100
    assert s.rate_at(5) == 150
    assert s.rate_at(10.5) == 5
    assert s.rate_at(12.5) == 15
    assert s.rate_at(14 + 4.9) == 10
    assert s.rate_at(14 + 5.0) == 100
    assert s.rate_at(14 + 7.0) == 10
    assert s.rate_at(-1) == 0
    assert s.rate_at(24) == 0
    assert spike.peak_rate == 100


@pytest.mark.parametrize(
    ("phase", "rate", "duration", "check"),
    [
        (SteadyPhase(name="m", rate=10, duration_s=5), 50, 7, lambda p: (p.rate, p.duration_s)),
        (
            RampPhase(name="m", from_rate=10, to_rate=100, duration_s=5),
            400,
            9,
            lambda p: (p.to_rate, p.duration_s),
        ),
        (
            SpikePhase(
                name="m",
                base_rate=10,
                spike_rate=100,
                spike_start_s=1,
                spike_duration_s=1,
                duration_s=5,
            ),
            400,
            9,
            lambda p: (p.spike_rate, p.duration_s),
        ),
        (
            StepPhase(name="m", steps=(Step(rate=10, duration_s=1), Step(rate=20, duration_s=3))),
            400,
            8,
            lambda p: (p.peak_rate, p.length_s),
        ),
    ],
)
def test_overrides_change_only_the_main_phase(
    phase: object, rate: float, duration: float, check: object
) -> None:
    """--rate/--duration set the main phase's peak rate and length; other phases stay."""
    warm = WarmupPhase(name="w", rate=1, duration_s=1)
    s = _scenario(warm, phase)
    o = s.with_overrides(rate=rate, duration_s=duration, target="http://127.0.0.1:9")
    assert check(o.main) == (rate, duration)  # type: ignore[operator]
    assert o.phases[0] == warm
    assert o.target == "http://127.0.0.1:9"
    assert s.with_overrides() == s


def test_step_rate_override_scales_every_step() -> None:
    """A step phase's steps keep their proportions when --rate sets the peak."""
    s = _scenario(
        StepPhase(name="m", steps=(Step(rate=10, duration_s=1), Step(rate=20, duration_s=1)))
    )
    o = s.with_overrides(rate=40)
    assert isinstance(o.main, StepPhase)
    assert [st.rate for st in o.main.steps] == [20, 40]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"rate": -5}, r"^--rate -5: s\.yaml: \$\.phases\[0\]\.spike_rate: Expected"),
        ({"duration_s": 1}, r"^--duration 1: s\.yaml: \$\.phases\[0\]: spike_start_s"),
        ({"target": "x"}, r"^--target x: s\.yaml: \$\.target: expected an http:// or https://"),
        ({"rate": float("nan")}, r"^--rate nan: expected a finite number"),
        ({"duration_s": float("inf")}, r"^--duration inf: expected a finite number"),
        ({"rate": 2, "duration_s": 1}, r"^--duration 1: s\.yaml: \$\.phases\[0\]: spike"),
    ],
)
def test_invalid_overrides_are_refused(kw: dict[str, object], message: str) -> None:
    """A bad override is a UsageError naming the flag, the file and the field it broke."""
    spike = SpikePhase(
        name="m", base_rate=1, spike_rate=5, spike_start_s=2, spike_duration_s=2, duration_s=6
    )
    with pytest.raises(UsageError, match=message):
        _scenario(spike).with_overrides(file="s.yaml", **kw)  # type: ignore[arg-type]


def test_endpoints_know_their_routes() -> None:
    """Each endpoint maps to its HTTP method and path on the reference service."""
    assert (Endpoint.SCORE.method, Endpoint.SCORE.path) == ("POST", "/v1/score")
    assert (Endpoint.INFER.method, Endpoint.INFER.path) == ("POST", "/v2/models/fraud/infer")
    assert (Endpoint.HEALTH.method, Endpoint.HEALTH.path) == ("GET", "/v2/health/ready")


def test_slo_path_is_resolved_against_the_scenario_file(tmp_path: Path) -> None:
    """slo: is relative to the scenario file's folder, whatever the working directory."""
    (tmp_path / "slos").mkdir()
    slo = tmp_path / "slos" / "fraud.yaml"
    slo.write_text("x: 1\n")
    sub = tmp_path / "scen"
    sub.mkdir()
    f = sub / "s.yaml"
    f.write_text(
        "name: s\nslo: ../slos/fraud.yaml\n"
        "phases: [{name: a, kind: steady, rate: 1, duration_s: 1}]\n"
    )
    loaded = load_scenario(f)
    assert loaded.slo == str(slo.resolve())
    assert loaded.slo_path == slo.resolve()
    assert loaded.with_overrides(rate=3).slo_path == slo.resolve()


def test_scenario_ref_hashes_the_file() -> None:
    """scenario_ref carries name, path and the file's SHA-256."""
    path = SCENARIOS / "steady.yaml"
    ref = scenario_ref(path, load_scenario(path))
    assert ref.name == "steady"
    assert len(ref.sha256) == 64
