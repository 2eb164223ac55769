"""SLO files: the shipped examples, the embedded default, OpenSLO v1 mapping and malformed input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from harness.errors import SpecError
from harness.spec import (
    default_slo,
    load_scenario,
    load_slo,
    parse_slo,
    validate_slo_against,
    validate_slo_phases,
)
from harness.spec.slo import (
    AvailabilityObjective,
    BurnRateObjective,
    BurnWindow,
    ErrorRateObjective,
    LatencyObjective,
    LowerOp,
    Percentile,
    ShedRateObjective,
    Sli,
    ThroughputObjective,
    UpperOp,
)

ROOT = Path(__file__).resolve().parents[2]
SLO_DIR = ROOT / "scenarios" / "slo"


def _native(**objective: Any) -> dict[str, Any]:
    return {"apiVersion": "slo-harness/v1", "name": "t", "objectives": [objective]}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "slo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- shipped files ---------------------------------------------------------------------------
def test_default_file_equals_embedded_default() -> None:
    """scenarios/slo/default.yaml parses to exactly default_slo()."""
    assert load_slo(SLO_DIR / "default.yaml") == default_slo()


def test_default_is_p99_under_50ms_error_rate_and_availability() -> None:
    """The default objective set is the fintech one: p99 < 50 ms, error rate < 0.1%, and
    availability (OK / sent) >= 99.9%, so refusing traffic (shedding) cannot pass the gate."""
    latency, errors, availability = default_slo().objectives
    assert latency == LatencyObjective(percentile=Percentile.P99, op=UpperOp.LT, threshold_ms=50)
    assert errors == ErrorRateObjective(op=UpperOp.LT, threshold=0.001)
    assert availability == AvailabilityObjective(op=LowerOp.GE, target=0.999)
    assert [o.label for o in default_slo().objectives] == [
        "p99 latency < 50 ms",
        "error rate < 0.1%",
        "availability >= 99.9%",
    ]


def test_every_kind_example_has_every_objective_kind_and_percentile_family() -> None:
    """scenarios/slo/every-kind.yaml parses and uses every objective kind."""
    slo = load_slo(SLO_DIR / "every-kind.yaml")
    kinds = {type(o) for o in slo.objectives}
    assert kinds == {
        LatencyObjective,
        ErrorRateObjective,
        AvailabilityObjective,
        ShedRateObjective,
        ThroughputObjective,
        BurnRateObjective,
    }
    burn = [o for o in slo.objectives if isinstance(o, BurnRateObjective)]
    assert burn[0].windows[0] == BurnWindow(long_s=30, short_s=5, max_burn=14.4)
    assert {b.sli for b in burn} == {Sli.ERRORS, Sli.LATENCY}
    scoped = [o for o in slo.objectives if o.endpoint == "score"]
    assert scoped
    assert scoped[0].name == "p99.9 of the scoring endpoint under 80 ms"


def test_openslo_example_maps_targets_to_percentiles() -> None:
    """The OpenSLO v1 example maps target 0.99 / lt 50 to p99 < 50 ms and 99.9% / lte to p99.9."""
    slo = load_slo(SLO_DIR / "openslo-v1.yaml")
    assert slo.name == "fraud-scoring-latency"
    assert slo.objectives == (
        LatencyObjective(
            name="p99 under 50 ms", percentile=Percentile.P99, op=UpperOp.LT, threshold_ms=50
        ),
        LatencyObjective(
            name="p99.9 under 120 ms", percentile=Percentile.P99_9, op=UpperOp.LE, threshold_ms=120
        ),
    )


def test_native_defaults_fill_op_phase_and_scope() -> None:
    """Omitted op, phase and endpoint default to the safe bound, all phases, all endpoints."""
    slo = parse_slo(
        {
            "name": "t",
            "objectives": [
                {"metric": "latency", "percentile": "max", "threshold_ms": 100},
                {"metric": "availability", "target": 0.99},
                {"metric": "throughput_ratio", "threshold": 0.95},
            ],
        },
        "t.yaml",
    )
    latency, availability, throughput = slo.objectives
    assert isinstance(latency, LatencyObjective)
    assert latency.op is UpperOp.LT
    assert latency.phase == "*"
    assert latency.endpoint is None
    assert isinstance(availability, AvailabilityObjective)
    assert availability.op is LowerOp.GE
    assert isinstance(throughput, ThroughputObjective)
    assert throughput.op is LowerOp.GE


# -- malformed native files ------------------------------------------------------------------
MALFORMED: list[tuple[str, object, str, str]] = [
    ("empty document", None, "$", "non-empty"),
    ("not a mapping", [1, 2], "$", "object"),
    ("missing name", {"objectives": [{"metric": "error_rate", "threshold": 0.1}]}, "$", "name"),
    ("no objectives", {"name": "t", "objectives": []}, "$.objectives", "length >= 1"),
    ("unknown top-level key", {"name": "t", "objectivs": []}, "$", "objectivs"),
    ("wrong apiVersion", {**_native(metric="error_rate", threshold=0.1), "apiVersion": "v2"},
     "$.apiVersion", "slo-harness/v1 or openslo/v1"),
    ("unknown metric", _native(metric="latancy", threshold_ms=5), "$.objectives[0].metric",
     "one of latency, error_rate"),
    ("missing metric", _native(threshold_ms=5), "$.objectives[0]", "metric"),
    ("unknown percentile", _native(metric="latency", percentile="p98", threshold_ms=5),
     "$.objectives[0].percentile", "one of p50, p90, p95, p99, p99.9, max (got 'p98')"),
    ("latency with a lower-bound op", _native(metric="latency", percentile="p99", op=">",
     threshold_ms=5), "$.objectives[0].op", "'<' or '<=' for latency (got '>')"),
    ("availability with an upper-bound op", _native(metric="availability", op="<", target=0.9),
     "$.objectives[0].op", "'>' or '>=' for availability"),
    ("threshold as a string with unit", _native(metric="latency", percentile="p99",
     threshold_ms="50ms"), "$.objectives[0].threshold_ms", "a number of milliseconds"),
    ("negative threshold", _native(metric="latency", percentile="p99", threshold_ms=-1),
     "$.objectives[0].threshold_ms", "> 0"),
    ("boolean threshold", _native(metric="latency", percentile="p99", threshold_ms=True),
     "$.objectives[0].threshold_ms", "float"),
    ("missing threshold", _native(metric="latency", percentile="p99"), "$.objectives[0]",
     "threshold_ms"),
    ("field of another kind", _native(metric="latency", percentile="p99", threshold_ms=5,
     threshold=0.1), "$.objectives[0]", "threshold"),
    ("error rate as a percentage", _native(metric="error_rate", threshold=0.1 * 100),
     "$.objectives[0].threshold", "<= 1.0"),
    ("error rate < 0", _native(metric="error_rate", op="<", threshold=0),
     "$.objectives[0].threshold", "above 0"),
    ("availability above 100%", _native(metric="availability", target=1.5),
     "$.objectives[0].target", "<= 1.0"),
    ("availability > 100%", _native(metric="availability", op=">", target=1.0),
     "$.objectives[0].target", "below 1"),
    ("throughput per endpoint", _native(metric="throughput_ratio", threshold=0.9,
     endpoint="score"), "$.objectives[0].endpoint", "per phase"),
    ("empty phase name", _native(metric="error_rate", threshold=0.1, phase=""),
     "$.objectives[0].phase", "length >= 1"),
    ("burn without windows", _native(metric="burn_rate", sli="errors", target=0.999, windows=[]),
     "$.objectives[0].windows", "length >= 1"),
    ("burn target 1", _native(metric="burn_rate", sli="errors", target=1.0,
     windows=[{"long_s": 30, "short_s": 5, "max_burn": 14.4}]), "$.objectives[0].target", "< 1.0"),
    ("burn short >= long", _native(metric="burn_rate", sli="errors", target=0.999,
     windows=[{"long_s": 5, "short_s": 30, "max_burn": 14.4}]),
     "$.objectives[0].windows[0].short_s", "shorter than long_s"),
    ("burn window typo", _native(metric="burn_rate", sli="errors", target=0.999,
     windows=[{"long": 30, "short_s": 5, "max_burn": 14.4}]), "$.objectives[0].windows[0]",
     "long"),
    ("latency sli without threshold", _native(metric="burn_rate", sli="latency", target=0.99,
     windows=[{"long_s": 30, "short_s": 5, "max_burn": 14.4}]),
     "$.objectives[0].latency_threshold_ms", "required when sli is latency"),
    ("errors sli with threshold", _native(metric="burn_rate", sli="errors", target=0.99,
     latency_threshold_ms=50, windows=[{"long_s": 30, "short_s": 5, "max_burn": 14.4}]),
     "$.objectives[0].latency_threshold_ms", "omitted when sli is errors"),
    ("unknown sli", _native(metric="burn_rate", sli="saturation", target=0.99,
     windows=[{"long_s": 30, "short_s": 5, "max_burn": 14.4}]), "$.objectives[0].sli",
     "one of errors, latency"),
    ("burn per endpoint", _native(metric="burn_rate", sli="errors", target=0.99, endpoint="score",
     windows=[{"long_s": 30, "short_s": 5, "max_burn": 14.4}]), "$.objectives[0].endpoint",
     "all endpoints"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "path", "expected"),
    [pytest.param(d, p, e, id=name) for name, d, p, e in MALFORMED],
)
def test_malformed_native_slo_names_field_and_expectation(
    tmp_path: Path, data: object, path: str, expected: str
) -> None:
    """A malformed SLO file is a SpecError with the file, the exact field path and expectation."""
    file = _write(tmp_path, yaml.safe_dump(data))
    with pytest.raises(SpecError) as info:
        load_slo(file)
    assert info.value.file == str(file)
    assert info.value.path == path
    assert expected in info.value.expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("name: [unclosed", "valid YAML", id="yaml-syntax"),
        pytest.param("name: a\n---\nname: b\n", "valid YAML", id="two-documents"),
        pytest.param("", "non-empty", id="empty-file"),
    ],
)
def test_unparseable_file_is_spec_error_at_root(tmp_path: Path, text: str, expected: str) -> None:
    """YAML that does not parse is a SpecError at $ saying valid YAML was expected."""
    with pytest.raises(SpecError) as info:
        load_slo(_write(tmp_path, text))
    assert info.value.path == "$"
    assert expected in info.value.expected


def test_missing_file_is_spec_error(tmp_path: Path) -> None:
    """A missing SLO file is a SpecError naming it, not a traceback."""
    with pytest.raises(SpecError, match="not found"):
        load_slo(tmp_path / "absent.yaml")


def test_validate_phases_rejects_unknown_phase_with_its_path() -> None:
    """An objective naming a phase the scenario lacks is a SpecError at its phase field."""
    slo = parse_slo(
        {
            "name": "t",
            "objectives": [
                {"metric": "error_rate", "threshold": 0.1},
                {"metric": "error_rate", "threshold": 0.1, "phase": "stedy"},
            ],
        },
        "t.yaml",
    )
    validate_slo_phases(slo, ["warmup", "steady", "stedy"], file="t.yaml")
    with pytest.raises(SpecError) as info:
        validate_slo_phases(slo, ["warmup", "steady"], file="t.yaml")
    assert info.value.path == "$.objectives[1].phase"
    assert "steady" in info.value.expected
    assert "'stedy'" in info.value.expected


def test_slo_endpoint_must_be_one_the_scenario_sends_to() -> None:
    """An objective on an endpoint outside the scenario's mix is a SpecError before any load."""
    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "steady.yaml")
    only_score = msgspec.structs.replace(scenario, mix=scenario.mix[:1])
    slo = parse_slo(
        {
            "name": "t",
            "objectives": [{"metric": "error_rate", "threshold": 0.1, "endpoint": "infer"}],
        },
        "t.yaml",
    )
    validate_slo_against(slo, scenario, file="t.yaml")
    with pytest.raises(SpecError) as info:
        validate_slo_against(slo, only_score, file="t.yaml")
    assert (info.value.file, info.value.path) == ("t.yaml", "$.objectives[0].endpoint")
    assert "score" in info.value.expected
    assert "'infer'" in info.value.expected


# -- OpenSLO v1 ------------------------------------------------------------------------------
def _openslo(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SLO_DIR / "openslo-v1.yaml").read_text("utf-8"))
    for dotted, value in overrides.items():
        node = doc
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize(
    ("target", "percentile"),
    [(0.5, Percentile.P50), (0.9, Percentile.P90), (0.95, Percentile.P95),
     (0.99, Percentile.P99), (0.999, Percentile.P99_9)],
)  # fmt: skip
def test_openslo_target_maps_to_percentile(target: float, percentile: Percentile) -> None:
    """Every supported OpenSLO target maps to the percentile it implies."""
    doc = _openslo()
    doc["spec"]["objectives"] = [{"op": "lt", "value": 42, "target": target}]
    (objective,) = parse_slo(doc, "o.yaml").objectives
    assert objective == LatencyObjective(percentile=percentile, threshold_ms=42)


def test_openslo_harness_source_scopes_phase_and_endpoint() -> None:
    """A slo-harness metric source may scope the objectives to a phase and an endpoint."""
    doc = _openslo()
    source = doc["spec"]["indicator"]["spec"]["thresholdMetric"]["metricSource"]
    source["spec"] = {"phase": "steady", "endpoint": "score"}
    assert {(o.phase, o.endpoint) for o in parse_slo(doc, "o.yaml").objectives} == {
        ("steady", "score")
    }


def test_openslo_foreign_source_is_accepted_with_default_scope() -> None:
    """A metric source of another type (a Prometheus query) is accepted; its query is ignored."""
    doc = _openslo()
    doc["spec"]["indicator"]["spec"]["thresholdMetric"]["metricSource"] = {
        "type": "Prometheus",
        "spec": {"query": "histogram_quantile(0.99, rate(x[5m]))"},
    }
    assert all(o.phase == "*" for o in parse_slo(doc, "o.yaml").objectives)


OPENSLO_MALFORMED: list[tuple[str, dict[str, Any], str, str]] = [
    ("v1alpha", _openslo(apiVersion="openslo/v1alpha"), "$.apiVersion", "openslo/v1alpha"),
    ("wrong kind", _openslo(kind="SLI"), "$.kind", "SLO (got 'SLI')"),
    ("timeslices", _openslo(spec__budgetingMethod="Timeslices"), "$.spec.budgetingMethod",
     "Occurrences"),
    ("unknown budgeting", _openslo(spec__budgetingMethod="Sometimes"), "$.spec.budgetingMethod",
     "Sometimes"),
    ("indicatorRef", _openslo(spec__indicator=_DELETE, spec__indicatorRef="latency-sli"),
     "$.spec.indicatorRef", "inline spec.indicator"),
    ("no indicator", _openslo(spec__indicator=_DELETE), "$.spec", "indicator"),
    ("ratio metric", _openslo(spec__indicator__spec__ratioMetric={"counter": True}),
     "$.spec.indicator.spec.ratioMetric", "ratioMetric indicators are not supported"),
    ("no threshold metric", _openslo(spec__indicator__spec__thresholdMetric=_DELETE),
     "$.spec.indicator.spec", "thresholdMetric"),
    ("gt op", _openslo(spec__objectives__0__op="gt"), "$.spec.objectives[0].op", "lt or lte"),
    ("unknown op", _openslo(spec__objectives__0__op="below"), "$.spec.objectives[0].op",
     "lt or lte (got 'below')"),
    ("no op", _openslo(spec__objectives__0__op=_DELETE), "$.spec.objectives[0]", "op"),
    ("no value", _openslo(spec__objectives__0__value=_DELETE), "$.spec.objectives[0]", "value"),
    ("negative value", _openslo(spec__objectives__0__value=-5), "$.spec.objectives[0].value",
     "milliseconds"),
    ("odd target", _openslo(spec__objectives__0__target=0.97), "$.spec.objectives[0].target",
     "one of 0.5, 0.9, 0.95, 0.99, 0.999"),
    ("odd targetPercent", _openslo(spec__objectives__1__targetPercent=99.5),
     "$.spec.objectives[1].targetPercent", "one of 50, 90, 95, 99, 99.9 (got 99.5"),
    ("both targets", _openslo(spec__objectives__0__targetPercent=99),
     "$.spec.objectives[0]", "exactly one of"),
    ("time slice target", _openslo(spec__objectives__0__timeSliceTarget=0.95),
     "$.spec.objectives[0].timeSliceTarget", "time slices: unsupported"),
    ("composite weight", _openslo(spec__objectives__0__compositeWeight=1),
     "$.spec.objectives[0].compositeWeight", "composite"),
    ("typo", _openslo(spec__objectivs=[]), "$.spec", "objectivs"),
    ("no objectives", _openslo(spec__objectives=[]), "$.spec.objectives", "length >= 1"),
    ("bad harness scope", _openslo(
        spec__indicator__spec__thresholdMetric__metricSource__spec={"phase": "x", "zone": "y"}),
     "$.spec.indicator.spec.thresholdMetric.metricSource.spec", "zone"),
    ("metadata without name", _openslo(metadata={"displayName": "x"}), "$.metadata", "name"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("doc", "path", "expected"),
    [pytest.param(d, p, e, id=name) for name, d, p, e in OPENSLO_MALFORMED],
)
def test_malformed_or_unsupported_openslo_names_field(
    tmp_path: Path, doc: dict[str, Any], path: str, expected: str
) -> None:
    """Unsupported or malformed OpenSLO documents are SpecErrors naming the field."""
    file = _write(tmp_path, yaml.safe_dump(doc))
    with pytest.raises(SpecError) as info:
        load_slo(file)
    assert (info.value.file, info.value.path) == (str(file), path)
    assert expected in info.value.expected
