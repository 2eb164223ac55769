"""Input files (scenarios, SLOs) parsed once, at the edge, into frozen typed objects.

Every malformed file becomes a :class:`harness.errors.SpecError` naming file, field path and what
was expected.
"""

from harness.spec._load import MAX_DEPTH, convert_spec, load_spec, parse_yaml, read_yaml

# -- scenario (harness/spec/scenario.py) --
from harness.spec.scenario import (
    Arrival,
    Endpoint,
    GeneratorLimits,
    MixEntry,
    PayloadSpec,
    Phase,
    Scenario,
    ScheduledPhase,
    Segment,
    load_scenario,
    scenario_ref,
)

# -- SLO (harness/spec/slo.py) --
from harness.spec.slo import (
    ALL_PHASES,
    AvailabilityObjective,
    BurnRateObjective,
    ErrorRateObjective,
    LatencyObjective,
    Objective,
    Percentile,
    ShedRateObjective,
    Sli,
    SloSpec,
    ThroughputObjective,
    UpperOp,
    default_slo,
    load_slo,
    parse_slo,
    validate_slo_against,
    validate_slo_endpoints,
    validate_slo_phases,
)

__all__ = [
    "ALL_PHASES",
    "MAX_DEPTH",
    "Arrival",
    "AvailabilityObjective",
    "BurnRateObjective",
    "Endpoint",
    "ErrorRateObjective",
    "GeneratorLimits",
    "LatencyObjective",
    "MixEntry",
    "Objective",
    "PayloadSpec",
    "Percentile",
    "Phase",
    "Scenario",
    "ScheduledPhase",
    "Segment",
    "ShedRateObjective",
    "Sli",
    "SloSpec",
    "ThroughputObjective",
    "UpperOp",
    "convert_spec",
    "default_slo",
    "load_scenario",
    "load_slo",
    "load_spec",
    "parse_slo",
    "parse_yaml",
    "read_yaml",
    "scenario_ref",
    "validate_slo_against",
    "validate_slo_endpoints",
    "validate_slo_phases",
]
