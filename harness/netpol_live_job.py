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
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness.errors import UsageError
from harness.netpol import (
    Matrix,
    Protocol,
    expected_verdicts,
    flow_expectations,
    probe_flows,
    to_json,
)
from harness.netpol.lab import PolicyLab, ServedPort
from harness.netpol.live import LiveStats, judge_live, live_text
from harness.netpol.model import Endpoint
from harness.netpol.nftgen import DenyAction
from harness.netpol_job import NetpolInputs, NetpolOutcome, OutputFormat, _evidence, _load
from harness.target import ServiceKeys, launch_reference_service

__all__ = ["AUTO_SERVICE", "LiveOptions", "control_first", "live_job", "service_endpoint"]

#: ``--service auto``: the endpoint labelled ``app=reference-service``, if the manifests have one.
AUTO_SERVICE: Final = "auto"
_SERVICE_LABEL: Final = ("app", "reference-service")


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """How to probe: tries per flow, connect timeout, flows at once, deny action, the service."""

    tries: int = 3
    timeout_s: float = 0.5
    parallel: int = 16
    deny: DenyAction = DenyAction.DROP
    service: str | None = AUTO_SERVICE  # endpoint ref, "auto", or None: plain listeners only


def service_endpoint(matrix: Matrix, choice: str | None) -> tuple[Endpoint, int] | None:
    """The endpoint the real reference service runs in, and its TCP port (named ``http`` first)."""
    if choice is None:
        return None
    if choice == AUTO_SERVICE:
        found = [e for e in matrix.endpoints if _SERVICE_LABEL in e.labels and e.is_pod]
        if not found:
            return None
        endpoint = found[0]
    else:
        match = [e for e in matrix.endpoints if e.ref == choice]
        if not match:
            raise UsageError(f"--service {choice}: expected one of the pods (namespace/name)")
        endpoint = match[0]
    tcp = [p for p in endpoint.ports if p.protocol is Protocol.TCP]
    if not tcp:
        raise UsageError(f"--service {endpoint.ref}: the workload declares no TCP port")
    port = next((p for p in tcp if p.name == "http"), tcp[0])
    return endpoint, port.port


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


def control_first(
    matrix: Matrix,
    chosen: tuple[Endpoint, int] | None,
    want: dict[tuple[int, int], tuple[bool, str, str]],
) -> list[tuple[int, int]]:
    """Every flow, the best positive control first: an allowed flow into the real service, else
    a required (approved) flow, else the engine's first allowed flow (``probe_flows`` picks the
    first allowed flow of the list as its control)."""
    pairs = list(matrix.pairs())

    def rank(pair: tuple[int, int]) -> int:
        if not matrix.is_allowed(*pair):
            return 3
        slot = matrix.slots[pair[1]]
        if chosen is not None and matrix.endpoints[slot.endpoint].ref == chosen[0].ref:
            return 0 if slot.port == chosen[1] else 1
        return 1 if want.get(pair, (False,))[0] else 2

    best = min(pairs, key=rank, default=None)
    return pairs if best is None else [best, *(p for p in pairs if p != best)]


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
    text = to_json(outcome) if fmt is OutputFormat.JSON else live_text(matrix, outcome)
    return NetpolOutcome(
        text,
        outcome.failed,
        not_verified=not outcome.verified,
        evidence_dir=where,
        manifest_sha256=digest,
    )
