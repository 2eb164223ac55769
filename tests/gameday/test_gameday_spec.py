"""The game-day file: shipped examples parse; every mistake is exit-2 material with its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec.faults import FAULT_KINDS, HttpFault, LatencyFault, ProxyTarget
from harness.spec.gameday import (
    BurnRateAbort,
    ErrorRateAbort,
    LatencyAbort,
    load_gameday,
    parse_duration_s,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios" / "gamedays").glob("*.yaml"))

BASE = """\
title: t
owner: o
hypothesis: {hyp}
load: {load}
blast_radius: {{targets: [service, feature_store]}}
timeline:
  - {{name: a, at: 30s, for: 1m, fault: {{kind: pause}}}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "slo.yaml").write_text(
        "apiVersion: slo-harness/v1\nname: s\nobjectives:\n"
        "  - {metric: latency, percentile: p99, threshold_ms: 50}\n"
    )
    (tmp_path / "load.yaml").write_text(
        "name: l\nphases:\n  - {name: warmup, kind: warmup, rate: 10, duration_s: 2}\n"
        "  - {name: steady, kind: steady, rate: 20, duration_s: 5}\n"
    )
    path = tmp_path / "gd.yaml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_gameday(_write(tmp_path, text))
    return info.value


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_gamedays_parse(path: Path) -> None:
    """Every game day in scenarios/gamedays/ parses, with abort conditions and a timeline."""
    gameday = load_gameday(path)
    assert gameday.timeline
    assert gameday.spec.abort
    assert gameday.duration_s > max(s.end_s for s in gameday.timeline)


def test_six_shipped_gamedays_cover_the_issue() -> None:
    """Feature store, stall, worker kill, HTTP errors, packet loss and CPU throttle ship."""
    kinds = {load_gameday(p).timeline[0].fault.kind for p in SHIPPED}
    assert {"latency", "pause", "kill", "http", "loss", "cpu_throttle"} <= kinds


def test_durations_with_units_become_seconds(tmp_path: Path) -> None:
    """at: 30s, for: 1m, windows [1m, 5m] and recovery 1m30s are read as seconds."""
    text = BASE.format(hyp="slo.yaml", load="load.yaml") + (
        "abort:\n  - {signal: burn_rate, above: 14.4, windows: [1m, 5m]}\n"
        "  - {signal: error_rate, above: 0.05, for: 10s}\n"
        "  - {signal: latency, above_ms: 500, for: 15s}\nrecovery: 1m30s\n"
    )
    gd = load_gameday(_write(tmp_path, text))
    step = gd.timeline[0]
    assert (step.at_s, step.for_s, gd.spec.recovery_s) == (30.0, 60.0, 90.0)
    burn, err, lat = gd.spec.abort
    assert isinstance(burn, BurnRateAbort)
    assert burn.windows_s == (60.0, 300.0)
    assert isinstance(err, ErrorRateAbort)
    assert err.for_s == 10.0
    assert isinstance(lat, LatencyAbort)
    assert lat.label == "p99 > 500 ms for 15 s"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(30, 30.0), ("30s", 30.0), ("500ms", 0.5), ("2m", 120.0), ("1m30s", 90.0), ("1h", 3600.0)],
)
def test_parse_duration(value: object, seconds: float) -> None:
    """Numbers are seconds; strings take ms, s, m, h and combine."""
    assert parse_duration_s(value) == seconds


@pytest.mark.parametrize("value", ["3x", "", "s", True, None, "-3s"])
def test_bad_durations_are_rejected(value: object) -> None:
    """Anything else is a ValueError saying what a duration looks like."""
    with pytest.raises(ValueError, match="a duration like"):
        parse_duration_s(value)


@pytest.mark.parametrize(
    ("edit", "path", "expected"),
    [
        (("at: 30s", "at: soon"), "$.timeline[0].at", "a duration like"),
        (("kind: pause", "kind: pasue"), "$.timeline[0].fault.kind", "pasue"),
        (("kind: pause}", "kind: loss, percent: 120}"), "$.timeline[0].fault.percent", "<= 100"),
        (("owner: o", "ownr: o"), "$", "ownr"),
        (("[service, feature_store]", "[feature_store]"), "$.timeline[0].fault", "pause touches"),
        (("load.yaml", "missing.yaml"), "$.load", "not found"),
    ],
)
def test_mistakes_name_file_path_and_expectation(
    tmp_path: Path, edit: tuple[str, str], path: str, expected: str
) -> None:
    """A typo, an out-of-range value, a fault outside the blast radius: SpecError at the field."""
    text = BASE.format(hyp="slo.yaml", load="load.yaml").replace(*edit)
    err = _error(tmp_path, text)
    assert err.file.endswith("gd.yaml")
    assert err.path == path
    assert expected in err.expected


def test_inline_hypothesis_errors_point_inside_the_game_day(tmp_path: Path) -> None:
    """An inline SLO's mistake is reported under $.hypothesis."""
    hyp = (
        "{apiVersion: slo-harness/v1, name: s, "
        "objectives: [{metric: latency, percentile: p98, threshold_ms: 5}]}"
    )
    err = _error(tmp_path, BASE.format(hyp=hyp, load="load.yaml"))
    assert err.path == "$.hypothesis.objectives[0].percentile"


def test_inline_load_is_a_scenario(tmp_path: Path) -> None:
    """load: may be an inline scenario; its errors point under $.load."""
    load = "{name: x, phases: [{name: s, kind: steady, rate: 10, duration_s: 1}]}"
    gd = load_gameday(_write(tmp_path, BASE.format(hyp="slo.yaml", load=load)))
    assert gd.scenario.name == "x"
    assert gd.scenario_path is None
    bad = "{name: x, phases: [{name: s, kind: steady, rat: 10, duration_s: 1}]}"
    assert _error(tmp_path, BASE.format(hyp="slo.yaml", load=bad)).path.startswith("$.load")


def test_concurrent_faults_beyond_the_blast_radius_are_rejected(tmp_path: Path) -> None:
    """Two overlapping faults with max_concurrent_faults 1 fail at the second step's start."""
    text = BASE.format(hyp="slo.yaml", load="load.yaml") + (
        "  - {name: b, at: 40s, for: 5s, fault: {kind: http, error_rate: 0.1}}\n"
    )
    err = _error(tmp_path, text)
    assert err.path == "$.timeline[1].at"
    assert "at most blast_radius.max_concurrent_faults = 1" in err.expected


def test_duplicate_step_names_are_rejected(tmp_path: Path) -> None:
    """Step names identify journal entries: they must be unique."""
    text = BASE.format(hyp="slo.yaml", load="load.yaml") + (
        "  - {name: a, at: 2m, for: 5s, fault: {kind: pause}}\n"
    )
    assert "unique step names" in _error(tmp_path, text).expected


def test_fault_specs_carry_their_targets() -> None:
    """Proxy faults touch what the proxy sits in front of; every kind has a summary."""
    fs = LatencyFault(latency_ms=200, target=ProxyTarget.FEATURE_STORE)
    assert fs.blast_target.value == "feature_store"
    assert "200 ms" in fs.summary
    assert HttpFault(error_rate=0.05).blast_target.value == "service"
    assert len(FAULT_KINDS) == len(set(FAULT_KINDS)) == 17


def test_http_fault_must_do_something(tmp_path: Path) -> None:
    """An http fault with neither errors nor delay is a mistake, reported at its field."""
    text = BASE.format(hyp="slo.yaml", load="load.yaml").replace(
        "kind: pause}", "kind: http, error_code: 503}"
    )
    err = _error(tmp_path, text)
    assert err.path.startswith("$.timeline[0].fault")
    assert "error_rate" in err.expected


def test_load_must_be_one_steady_phase(tmp_path: Path) -> None:
    """A ramp cannot be stretched over a timeline: the load must be warm-ups plus one steady."""
    load = "{name: x, phases: [{name: r, kind: ramp, from_rate: 1, to_rate: 10, duration_s: 1}]}"
    err = _error(tmp_path, BASE.format(hyp="slo.yaml", load=load))
    assert err.path == "$.load"
    assert "exactly one steady or soak" in err.expected
