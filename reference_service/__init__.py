"""Reference fraud-scoring service: the system under test of slo-harness, and a template.

Run it with ``python -m reference_service`` (see ``--help``). The package never imports
``harness``; the harness reaches it over HTTP or by launching that command.

Modules (each small, one responsibility):

* ``server``  - launcher: flags, preflight, uvicorn with uvloop + httptools, workers
* ``parentwatch`` - ``--parent-pid``: graceful shutdown when the launching process dies
* ``config``  - command line and the frozen :class:`ServiceConfig`
* ``app``     - ASGI app: routing, admission, error mapping, lifecycle/readiness
* ``asgi``    - bounded body reading and response sending
* ``pipeline``- the ``/v1/score`` decision path (validate, tokenise, features, score, audit)
* ``schema``  - request/response contract as msgspec Structs; ``codes`` - ISO code lists
* ``pan``     - Luhn check, HMAC tokenisation, card-number detection in free text
* ``featurestore`` - velocity windows (in-process, Redis) under a time budget
* ``decision``- versioned thresholds and reason codes
* ``admission`` - in-flight limit derived from measured service time
* ``metrics`` - Prometheus metrics; ``openapi`` - OpenAPI 3.1 document; ``v2`` - KServe V2
* ``resources`` - building and closing keys, model, audit trail and store; ``logs`` - JSON logs
* ``model`` (training, features, scorer) and ``audit`` (the trail) are subpackages.

Importing this package is cheap: submodules load on use.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
