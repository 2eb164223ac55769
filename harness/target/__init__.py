"""The system under test: where it may be, how to reach it, how to start the embedded one, how to
tell it is up.

Jobs, one module each, and this facade is the only import path for callers:

- ``address``: :func:`resolve_target` / :func:`check_target_allowed`, the allowlist rule
  (loopback, 198.18.0.0/15, and what ``--allow-target`` / ``allow:`` name explicitly);
- ``tls``: the client ``SSLContext`` of a scenario's ``tls:`` section and the pre-flight handshake;
- ``connection``: :func:`open_target`, the one target-resolution path (runner, plugin, workers,
  probes);
- ``launch``: :func:`launch_reference_service`, its per-run :class:`ServiceKeys`, and
  :func:`require_service` (is ``slo-harness[service]`` installed?);
- ``probe``: :func:`probe_target` (readiness + model identity), :func:`read_infer_input`;
- ``models``: :func:`fetch_models`, the V2 metadata of the models ``v2_infer`` requests name;
- ``scrape``: :class:`CounterScraper`, the decision and degraded-decision counters of ``/metrics``.

No Locust here: the load package, the pipeline and the entry points all use these functions.
"""

from harness.target.address import (
    ALLOWED_NETWORK,
    AllowEntry,
    Allowlist,
    ResolvedTarget,
    check_target_allowed,
    resolve_target,
)
from harness.target.connection import TargetConnection, open_target
from harness.target.launch import (
    ServiceKeys,
    ServiceProcess,
    launch_reference_service,
    reference_service_process,
    require_service,
)
from harness.target.models import V2Model, V2Tensor, fetch_models, request_headers
from harness.target.probe import InferInput, probe_target, read_infer_input
from harness.target.scrape import CounterScraper, DecisionCounters, parse_decision_counters
from harness.target.tls import ClientTls, client_tls

__all__ = [
    "ALLOWED_NETWORK",
    "AllowEntry",
    "Allowlist",
    "ClientTls",
    "CounterScraper",
    "DecisionCounters",
    "InferInput",
    "ResolvedTarget",
    "ServiceKeys",
    "ServiceProcess",
    "TargetConnection",
    "V2Model",
    "V2Tensor",
    "check_target_allowed",
    "client_tls",
    "fetch_models",
    "launch_reference_service",
    "open_target",
    "parse_decision_counters",
    "probe_target",
    "read_infer_input",
    "reference_service_process",
    "request_headers",
    "require_service",
    "resolve_target",
]
