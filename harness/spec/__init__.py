"""Input files (scenarios, SLOs) parsed once, at the edge, into frozen typed objects.

Every malformed file becomes a :class:`harness.errors.SpecError` naming file, field path and what
was expected.
"""

from harness.spec._load import convert_spec, load_spec, read_yaml

# -- game day (harness/spec/gameday.py, harness/spec/faults.py) --
from harness.spec.faults import FAULT_KINDS, FaultSpec
from harness.spec.gameday import GameDay, load_gameday, parse_duration_s

# -- scenario (harness/spec/scenario.py) --
from harness.spec.scenario import (
    Arrival,
    Endpoint,
    EndpointPicker,
    Phase,
    Scenario,
    ScheduledPhase,
    intended_times,
    load_scenario,
    scenario_ref,
)

# -- SLO (harness/spec/slo.py) --
from harness.spec.slo import (
    ALL_PHASES,
    Objective,
    Percentile,
    SloSpec,
    default_slo,
    load_slo,
    parse_slo,
    validate_slo_phases,
)

__all__ = [
    "ALL_PHASES",
    "FAULT_KINDS",
    "Arrival",
    "Endpoint",
    "EndpointPicker",
    "FaultSpec",
    "GameDay",
    "Objective",
    "Percentile",
    "Phase",
    "Scenario",
    "ScheduledPhase",
    "SloSpec",
    "convert_spec",
    "default_slo",
    "intended_times",
    "load_gameday",
    "load_scenario",
    "load_slo",
    "load_spec",
    "parse_duration_s",
    "parse_slo",
    "read_yaml",
    "scenario_ref",
    "validate_slo_phases",
]
