"""The system under test: where it may be, how to start the embedded one, how to tell it is up.

Three jobs, one module each, and this facade is the only import path for callers:

- ``address``: :func:`check_target_allowed`, the loopback / 198.18.0.0/15 rule;
- ``launch``: :func:`launch_reference_service`, its per-run :class:`ServiceKeys`, and
  :func:`require_service` (is ``slo-harness[service]`` installed?);
- ``probe``: :func:`probe_target` (readiness + model identity), :func:`read_infer_input`;
- ``models``: :func:`fetch_models`, the V2 metadata of the models ``v2_infer`` requests name;
- ``scrape``: :class:`CounterScraper`, the decision and degraded-decision counters of ``/metrics``.

No Locust here: the load package, the pipeline and the entry points all use these functions.
"""

from harness.target.address import ALLOWED_NETWORK, check_target_allowed
from harness.target.launch import (
    ServiceKeys,
    ServiceProcess,
    launch_reference_service,
    reference_service_process,
    require_service,
)
from harness.target.models import V2_DATATYPES, V2Model, V2Tensor, fetch_models, request_headers
from harness.target.probe import InferInput, probe_target, read_infer_input
from harness.target.scrape import CounterScraper, DecisionCounters, parse_decision_counters

__all__ = [
    "ALLOWED_NETWORK",
    "V2_DATATYPES",
    "CounterScraper",
    "DecisionCounters",
    "InferInput",
    "ServiceKeys",
    "ServiceProcess",
    "V2Model",
    "V2Tensor",
    "check_target_allowed",
    "fetch_models",
    "launch_reference_service",
    "parse_decision_counters",
    "probe_target",
    "read_infer_input",
    "reference_service_process",
    "request_headers",
    "require_service",
]
