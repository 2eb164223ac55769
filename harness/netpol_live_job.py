"""The ``netpol check|matrix --live`` job: build the lab, run the real service, probe, judge, write.

Job-level glue like :mod:`harness.netpol_job` (whose loader and evidence writer it reuses): it
composes the live lab (:class:`harness.netpol.lab.PolicyLab`), the reference-service launcher
(:mod:`harness.target`) and the report writer. Order of events, each undone in reverse on every
exit path (Ctrl-C included; the lab's teardown holds signals until it finished):

1. inputs loaded and validated (exit 2 before anything is built); the machine checked (root,
   ``ip``, ``nft``: ``LabUnavailable``, exit 3, names what is missing);
2. the lab: one namespace per endpoint, nft chains per pod, listeners on every declared port
   except the scorer's service port;
3. the real reference service launched inside the scorer's namespace, bound to its lab address
   and declared port (its readiness probe runs from that namespace, over loopback);
4. a positive control, then every pair x port, ``parallel`` at a time, fresh connects (UDP: echo),
   bounded tries, each timestamped;
5. observed vs predicted vs expected (:func:`harness.netpol.live.judge_live`), the evidence bundle
   with the probe run (``--out``), the text.

Exit mapping (``harness.cli``): enforcement not verified -> 3; observed != predicted, or an
observation that breaks the expectations (``check``) -> 1.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from harness.errors import UsageError
from harness.netpol import (
    Endpoint,
    LiveOptions,
    LiveStats,
    PolicyLab,
    ServedPort,
    control_first,
    expected_verdicts,
    flow_expectations,
    judge_live,
    live_md,
    live_text,
    probe_flows,
    service_endpoint,
    to_json,
)
from harness.netpol_job import NetpolInputs, NetpolOutcome, OutputFormat, _evidence, _load
from harness.target import ServiceKeys, launch_reference_service

__all__ = ["live_job"]


@contextlib.contextmanager
def _service(lab: PolicyLab, chosen: tuple[Endpoint, int] | None) -> Iterator[str]:
    """The reference service inside its endpoint's namespace for the block; yield a description."""
    if chosen is None:
        yield ""
        return
    endpoint, port = chosen
    host = lab.host(endpoint.ref)
    with tempfile.TemporaryDirectory(prefix="slo-netlab-") as tmp:
        keys = ServiceKeys.create(Path(tmp))
        # the readiness probe runs from the caller's namespace: the service's own (loopback)
        with (
            host.namespace.entered(),
            launch_reference_service(
                audit_dir=keys.audit_dir,
                extra_args=keys.service_args(),
                bind=(str(host.address), port),
                command_prefix=host.namespace.argv([]),
            ) as url,
        ):
            yield f"{endpoint.ref} TCP/{port} ({url}, reference_service)"


def live_job(
    inputs: NetpolInputs,
    *,
    check_expectations: bool,
    options: LiveOptions,
    fmt: OutputFormat = OutputFormat.TEXT,
    out: Path | None = None,
) -> NetpolOutcome:
    """Probe the manifests' policies on real enforcement; violated: wrong flow or violation."""
    matrix, expectations, extra = _load(inputs)
    if check_expectations and expectations is None:
        raise UsageError("netpol check needs --expect FILE (the approved flows)")
    chosen = service_endpoint(matrix, options.service)
    served: list[ServedPort] = [] if chosen is None else [(chosen[0].ref, chosen[1], "TCP")]
    want = flow_expectations(matrix, expectations) if expectations else {}
    flows = control_first(matrix, chosen, want)
    with PolicyLab.build(matrix, deny=options.deny, serve_elsewhere=served) as lab:
        with _service(lab, chosen) as service:
            started = time.monotonic()
            run = probe_flows(
                matrix,
                lab.prober(),
                method="live-lab",
                flows=flows,
                expected=expected_verdicts(matrix, expectations) if expectations else {},
                tries=options.tries,
                timeout_s=options.timeout_s,
                parallel=options.parallel,
            )
            probe_s = time.monotonic() - started
        stats = LiveStats(
            lab=lab.lab.namespace.name,
            hosts=len(lab.lab.hosts),
            isolated_pods=sum(1 for r in lab.rules if r.isolated),
            deny_action=options.deny.value,
            parallel=options.parallel,
            build_s=round(lab.build_s, 3),
            probe_s=round(probe_s, 3),
            attempts=sum(r.tries for r in run.results) + (run.control.tries if run.control else 0),
            service=service,
        )
    outcome = judge_live(matrix, run, stats, expectations if check_expectations else None)
    where, digest = _evidence(matrix, expectations, extra, out, probes=(run,))
    render = {
        OutputFormat.JSON: lambda: to_json(outcome),
        OutputFormat.MD: lambda: live_md(matrix, outcome),
    }
    text = render.get(fmt, lambda: live_text(matrix, outcome))()
    return NetpolOutcome(
        text,
        outcome.failed,
        not_verified=not outcome.verified,
        evidence_dir=where,
        manifest_sha256=digest,
    )
