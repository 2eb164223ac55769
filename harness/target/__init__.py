"""The system under test: where it may be, how to start the embedded one, how to tell it is up.

Three jobs, one module each, and this facade is the only import path for callers:

- ``address``: :func:`check_target_allowed`, the loopback / 198.18.0.0/15 rule;
- ``launch``: :func:`launch_reference_service`, its per-run :class:`ServiceKeys`, and
  :func:`require_service` (is ``slo-harness[service]`` installed?);
- ``probe``: :func:`probe_target` (V2 readiness + model identity), :func:`read_infer_input`.

No Locust here: the load package, the pipeline and the entry points all use these functions.
"""

from harness.target.address import ALLOWED_NETWORK, check_target_allowed
from harness.target.launch import ServiceKeys, launch_reference_service, require_service
from harness.target.probe import InferInput, probe_target, read_infer_input

__all__ = [
    "ALLOWED_NETWORK",
    "InferInput",
    "ServiceKeys",
    "check_target_allowed",
    "launch_reference_service",
    "probe_target",
    "read_infer_input",
    "require_service",
]
