"""The PCI boundary under load: probes *during* an SLO run, and the boundary verdict.

While ``slo-harness run --netpol`` drives the CI-gate load from the gateway's namespace into the
real service in the scorer's, :class:`BoundaryMonitor` probes the service port from every
endpoint of the lab in rounds (every ``interval_s``, all sources at once): the gateway's probe is
the positive control of each round (it must connect, like the load does), every other source's
probe must observe what the engine predicted (for a hardened CDE: blocked). The probes run in
the lab agent (:mod:`harness.netpol.agent`, a separate stdlib-only process) because the harness
process is gevent-patched while the load runs; each try is a JSON line with its UTC timestamp.

:func:`judge_boundary` turns the probe run before the load (every other flow of the matrix) and
one :class:`~harness.netpol.probe.ProbeRun` per round into a :class:`BoundaryVerdict`:

- ``not-verified`` when a positive control did not connect (before the load or in a round) or no
  round completed: the boundary was not shown to be enforced, never "isolated";
- ``fail`` when any observation differs from the prediction or breaks the expectations file
  (PCI DSS requirement ids in the reasons), ``pass`` otherwise.
"""

from __future__ import annotations

import contextlib
import enum
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from types import TracebackType
from typing import IO, Any, Final

import msgspec

from harness.errors import NetnsError
from harness.netpol import agent
from harness.netpol.engine import Matrix
from harness.netpol.evidence import EvidenceBundle
from harness.netpol.expect import Expectations
from harness.netpol.lab import PolicyLab
from harness.netpol.live import observed_violations
from harness.netpol.probe import Observation, ProbeAttempt, ProbeResult, ProbeRun

__all__ = [
    "BoundaryMonitor",
    "BoundaryRound",
    "BoundaryStatus",
    "BoundaryVerdict",
    "PciRunSection",
    "judge_boundary",
]

_STOP_TIMEOUT_S: Final = 10.0
_OBS: Final = {
    agent.ALLOWED: Observation.ALLOWED,
    agent.BLOCKED: Observation.BLOCKED,
    agent.ERROR: Observation.ERROR,
}


class BoundaryStatus(enum.Enum):
    """The boundary verdict of a run."""

    PASS = "pass"
    FAIL = "fail"
    NOT_VERIFIED = "not-verified"


class BoundaryRound(msgspec.Struct, frozen=True):
    """One round of probes during the load: when, the control, and what the others saw."""

    round: int
    at: str
    control: Observation
    denied: int  # sources observed blocked, as predicted
    wrong: tuple[str, ...]  # "from -> to PROTO/port: predicted X, observed Y"


class BoundaryVerdict(msgspec.Struct, frozen=True):
    """The boundary verdict: status, the load path, the rounds and the reasons."""

    status: BoundaryStatus
    gateway: str
    scorer: str
    port: int
    lab: str
    rounds: tuple[BoundaryRound, ...]
    reasons: tuple[str, ...]


class PciRunSection(msgspec.Struct, frozen=True):
    """The PCI section of a run report: the boundary verdict and the evidence bundle."""

    boundary: BoundaryVerdict
    evidence: EvidenceBundle


Flow = tuple[int, int]  # (source endpoint, slot index)


class BoundaryMonitor:
    """Round-based probes of ``flows`` in ``lab`` while the block runs (a context manager)."""

    def __init__(
        self,
        lab: PolicyLab,
        flows: list[Flow],
        *,
        interval_s: float,
        tries: int,
        timeout_s: float,
        max_s: float,
    ) -> None:
        self._lab = lab
        self._flows = flows
        self._config = {
            "interval_s": interval_s,
            "rounds": 10_000,
            "tries": tries,
            "timeout_s": timeout_s,
            "max_s": max_s,
            "probes": [self._item(i, f) for i, f in enumerate(flows)],
        }
        self.tries, self.timeout_s = tries, timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None
        self.lines: list[dict[str, Any]] = []

    def _item(self, index: int, flow: Flow) -> dict[str, Any]:
        matrix = self._lab.matrix
        slot = matrix.slots[flow[1]]
        src = self._lab.host(matrix.endpoints[flow[0]].ref)
        dst = matrix.endpoints[slot.endpoint].ref
        return {
            "id": index,
            "netns": str(src.namespace.path),
            "ip": self._lab.address(dst),
            "port": slot.port,
            "protocol": slot.protocol.value,
        }

    def __enter__(self) -> BoundaryMonitor:
        self._out = tempfile.TemporaryFile(prefix="slo-boundary-")
        self._proc = subprocess.Popen(
            [sys.executable, "-I", agent.__file__, "monitor", json.dumps(self._config)],
            stdin=subprocess.PIPE,
            stdout=self._out,
            stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, out = self._proc, self._out
        self._proc = self._out = None
        if proc is None or out is None:
            return
        try:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()  # EOF: the agent finishes its round and stops
            try:
                proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.seek(0)
            self.lines = [json.loads(line) for line in out.read().splitlines() if line.strip()]
        finally:
            out.close()
        errors = [line["error"] for line in self.lines if "error" in line]
        if errors and exc_type is None:
            raise NetnsError(f"boundary monitor failed: {errors[0]}")

    def probe_runs(self, expected: dict[Flow, bool]) -> tuple[ProbeRun, ...]:
        """One :class:`ProbeRun` per completed round (flow 0 is the round's positive control)."""
        matrix = self._lab.matrix
        done = {line["round_done"] for line in self.lines if "round_done" in line}
        tries: dict[int, dict[int, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
        for line in self.lines:
            if "id" in line and line["round"] in done:
                tries[line["round"]][line["id"]].append(line)
        runs = []
        for round_no in sorted(done):
            results = [
                _result(matrix, flow, tries[round_no][i], expected.get(flow))
                for i, flow in enumerate(self._flows)
            ]
            runs.append(_round_run(round_no, results, self.tries, self.timeout_s))
        return tuple(runs)


def _result(
    matrix: Matrix, flow: Flow, lines: list[dict[str, Any]], expected: bool | None
) -> ProbeResult:
    slot = matrix.slots[flow[1]]
    attempts = tuple(
        ProbeAttempt(t["at"], _OBS[t["observed"]], t["elapsed_ms"], t["detail"])
        for t in sorted(lines, key=lambda t: t["try"])
    )
    seen = {a.observed for a in attempts}
    observed = (
        Observation.ALLOWED
        if Observation.ALLOWED in seen
        else Observation.BLOCKED
        if Observation.BLOCKED in seen
        else Observation.ERROR
    )
    return ProbeResult(
        from_=matrix.endpoints[flow[0]].ref,
        to=matrix.endpoints[slot.endpoint].ref,
        port=slot.port,
        protocol=slot.protocol.value,
        predicted=matrix.is_allowed(*flow),
        expected=expected,
        observed=observed,
        tries=len(attempts),
        attempts=attempts,
    )


def _round_run(round_no: int, results: list[ProbeResult], tries: int, timeout_s: float) -> ProbeRun:
    control, others = results[0], results[1:]
    verified = control.observed is Observation.ALLOWED
    stamps = [a.at for r in results for a in r.attempts]
    verdicts = [r.correct for r in others]
    return ProbeRun(
        method=f"live-lab under load, round {round_no}",
        started_at=min(stamps, default=""),
        finished_at=max(stamps, default=""),
        enforcement_verified=verified,
        control=control,
        results=tuple(others) if verified else (),
        correct=verdicts.count(True) if verified else 0,
        wrong=verdicts.count(False) if verified else 0,
        no_value=verdicts.count(None) if verified else 0,
        tries_per_flow=tries,
        timeout_s=timeout_s,
        notes="" if verified else "enforcement not verified: the load path did not connect",
    )


def _wrong(r: ProbeResult) -> str:
    predicted = "open" if r.predicted else "blocked"
    return f"{r.from_} -> {r.to} {r.protocol}/{r.port}: predicted {predicted}, observed " + (
        f"{r.observed.value} ({r.tries} tries)"
    )


def judge_boundary(
    matrix: Matrix,
    before: ProbeRun,
    rounds: tuple[ProbeRun, ...],
    expectations: Expectations | None,
    *,
    gateway: str,
    scorer: str,
    port: int,
    lab: str,
) -> BoundaryVerdict:
    """The boundary verdict of one run (see the module docstring for the rules)."""
    reasons: list[str] = []
    unverified = not rounds
    if not rounds:
        reasons.append("no probe round completed during the load")
    failed = False
    for run in (before, *rounds):
        if not run.enforcement_verified:
            unverified = True
            reasons.append(f"{run.method} at {run.started_at}: {run.notes}")
            continue
        wrong = [_wrong(r) for r in run.results if r.correct is False]
        violations, _, _ = observed_violations(matrix, run, expectations)
        failed = failed or bool(wrong) or bool(violations)
        reasons += [f"{run.method} at {run.started_at}: {w}" for w in wrong]
        reasons += [f"{run.method}: {v}" for v in violations]
    summary = tuple(
        BoundaryRound(
            k,
            run.started_at,
            run.control.observed if run.control else Observation.ERROR,
            sum(1 for r in run.results if r.observed is Observation.BLOCKED),
            tuple(_wrong(r) for r in run.results if r.correct is False),
        )
        for k, run in enumerate(rounds)
    )
    status = (
        BoundaryStatus.FAIL
        if failed
        else BoundaryStatus.NOT_VERIFIED
        if unverified
        else BoundaryStatus.PASS
    )
    if status is BoundaryStatus.PASS:
        reasons.append(
            f"{len(rounds)} rounds during the load: the load path {gateway} -> {scorer} TCP/{port} "
            "connected every time and every other flow was as predicted"
        )
    return BoundaryVerdict(status, gateway, scorer, port, lab, summary, tuple(reasons))
