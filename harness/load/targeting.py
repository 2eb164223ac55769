"""The readiness probe a scenario asks for: its ``health:`` path and statuses, and the model
whose identity goes into the report (the first ``v2_infer`` request's, else the reference
service's ``fraud``)."""

from __future__ import annotations

from harness.measure import TargetInfo
from harness.spec import Scenario
from harness.target import probe_target

__all__ = ["probe_target_of"]


def probe_target_of(
    scenario: Scenario, url: str, *, timeout_s: float, started_by_harness: bool = False
) -> TargetInfo:
    """:func:`harness.target.probe_target` with the scenario's health section and model."""
    model_path = next(
        (r.v2.metadata_path for r in scenario.request_table if r.v2 is not None),
        "/v2/models/fraud",
    )
    return probe_target(
        url,
        timeout_s=timeout_s,
        started_by_harness=started_by_harness,
        health=scenario.health,
        model_path=model_path,
    )
