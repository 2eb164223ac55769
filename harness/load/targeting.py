"""The target as the CLI runner and the Locust plugin check it before any load: resolved and
allowed (:func:`harness.target.open_target`, the one target-resolution path), a TLS pre-flight
handshake for ``https://``, the readiness probe the scenario asks for (its ``health:`` path and
statuses, and the model whose identity goes into the report: the first ``v2_infer`` request's,
else the reference service's ``fraud``), and the V2 metadata of the models ``v2_infer`` requests
name. Probes go over the same checked connection (address, Host, TLS) as the load."""

from __future__ import annotations

from harness.measure import TargetInfo
from harness.spec import Scenario
from harness.target import (
    Allowlist,
    TargetConnection,
    V2Model,
    fetch_models,
    open_target,
    probe_target,
)

__all__ = ["connect_target", "probe_target_of"]


def probe_target_of(
    scenario: Scenario,
    url: str,
    *,
    timeout_s: float,
    started_by_harness: bool = False,
    connection: TargetConnection | None = None,
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
        connection=connection,
    )


def connect_target(
    scenario: Scenario,
    url: str,
    *,
    allow: Allowlist,
    file: str,
    started_by_harness: bool,
    timeout_s: float,
) -> tuple[TargetInfo, tuple[V2Model, ...]]:
    """Open, pre-flight, probe and read the models of ``url`` (see the module docstring).
    Returns the target info (with its connection record for provenance) and the V2 models."""
    conn = open_target(url, tls=scenario.tls, allow=allow, file=file).preflight(timeout_s)
    info = probe_target_of(
        scenario,
        conn.url,
        timeout_s=timeout_s,
        started_by_harness=started_by_harness,
        connection=conn,
    )
    return info, fetch_models(conn.url, scenario.request_table, connection=conn)
