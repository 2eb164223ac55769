"""What a live lab run showed: observed vs predicted vs expected, cyclonus-style. Pure.

A :class:`~harness.netpol.probe.ProbeRun` holds, per flow, the engine's prediction and what the
lab observed. This module adds the comparison with the expectations file (the observed matrix is
checked exactly as :func:`~harness.netpol.expect.check` checks the predicted one, through
:func:`~harness.netpol.expect.flow_expectations`), the tally and the text an operator reads:

- per protocol/port, three truth tables side by side like cyclonus prints them: *expected*
  (the expectations: ``.`` approved, ``X`` not approved, blank not governed), *observed*
  (``.`` connected, ``X`` blocked, ``?`` the probe could not run) and *diff* against the engine's
  prediction (``.`` agree, ``W`` wrong, ``?`` no value) plus ``V`` where the observation violates
  the expectations;
- then every discrepancy on its own line (predicted, observed, tries, last detail, reason), and
  the counts: ``N wrong, N no value, N correct, N ignored`` (ignored: not governed by any zone).

Verdict rules (the job maps them to exit codes): enforcement not verified (positive control did
not connect) -> not measurable, never "isolated"; any wrong flow or observed violation -> fail.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Final

import msgspec

from harness.errors import UsageError
from harness.netpol.engine import Matrix
from harness.netpol.expect import Expectations, Violation, ViolationKind, flow_expectations
from harness.netpol.model import Endpoint, Protocol
from harness.netpol.nftgen import DenyAction
from harness.netpol.probe import Observation, ProbeResult, ProbeRun

__all__ = [
    "AUTO_SERVICE",
    "LiveOptions",
    "LiveOutcome",
    "LiveStats",
    "control_first",
    "judge_live",
    "live_text",
    "observed_violations",
    "service_endpoint",
]


class LiveStats(msgspec.Struct, frozen=True):
    """How the lab was run and what it cost (seconds, counts)."""

    lab: str
    hosts: int
    isolated_pods: int
    deny_action: str
    parallel: int
    build_s: float
    probe_s: float
    attempts: int
    service: str = ""  # the endpoint/port the real reference service answered on, if any


class LiveOutcome(msgspec.Struct, frozen=True):
    """The judged run: stats, the probe run, observed expectation violations and counts."""

    stats: LiveStats
    run: ProbeRun
    violations: tuple[Violation, ...]
    expected_ok: int
    ignored: int
    expectations_checked: bool

    @property
    def verified(self) -> bool:
        return self.run.enforcement_verified

    @property
    def failed(self) -> bool:
        """Observed != predicted, or an observation that breaks the expectations."""
        return self.run.wrong > 0 or bool(self.violations)


def _keys(matrix: Matrix) -> tuple[dict[str, int], dict[tuple[int, int, str], int]]:
    refs = {e.ref: i for i, e in enumerate(matrix.endpoints)}
    slots = {(s.endpoint, s.port, s.protocol.value): k for k, s in enumerate(matrix.slots)}
    return refs, slots


def _flow_key(
    r: ProbeResult, refs: dict[str, int], slots: dict[tuple[int, int, str], int]
) -> tuple[int, int]:
    return refs[r.from_], slots[refs[r.to], r.port, r.protocol]


def observed_violations(
    matrix: Matrix, run: ProbeRun, expectations: Expectations | None
) -> tuple[tuple[Violation, ...], int, int]:
    """(violations, flows as expected, flows ignored) of the *observed* flows of ``run``."""
    refs, slots = _keys(matrix)
    want = flow_expectations(matrix, expectations) if expectations else {}
    violations: list[Violation] = []
    ok = ignored = 0
    for r in run.results:
        key = _flow_key(r, refs, slots)
        if key not in want or r.observed is Observation.ERROR:
            ignored += 1
            continue
        open_, zone, req = want[key]
        if (r.observed is Observation.ALLOWED) == open_:
            ok += 1
            continue
        kind = ViolationKind.REQUIRED_BLOCKED if open_ else ViolationKind.UNEXPECTED_OPEN
        reason = f"observed {r.observed.value} ({_tries(r.tries)}); {matrix.flow(*key).reason}"
        violations.append(Violation(kind, r.from_, r.to, r.port, r.protocol, zone, req, reason))
    return tuple(violations), ok, ignored


def judge_live(
    matrix: Matrix, run: ProbeRun, stats: LiveStats, expectations: Expectations | None
) -> LiveOutcome:
    """Compare the observations with the expectations (if any); count what was ignored."""
    violations, ok, ignored = observed_violations(matrix, run, expectations)
    return LiveOutcome(stats, run, violations, ok, ignored, expectations is not None)


# -- text ------------------------------------------------------------------------------------


def _cell_observed(r: ProbeResult | None) -> str:
    if r is None:
        return " "
    return {Observation.ALLOWED: ".", Observation.BLOCKED: "X", Observation.ERROR: "?"}[r.observed]


def _cell_diff(r: ProbeResult | None, violated: bool) -> str:
    if r is None:
        return " "
    if r.correct is False:  # the enforcement disagrees with the engine: the first thing to fix
        return "W"
    return "V" if violated else {True: ".", None: "?"}[r.correct]


def _port_tables(
    matrix: Matrix, outcome: LiveOutcome
) -> tuple[
    dict[tuple[int, int], ProbeResult],
    set[tuple[str, str, int, str]],
    list[tuple[tuple[str, int], list[int]]],
]:
    """What both renderings of the tables need: results by (source, slot), the violating flows,
    and the slots grouped per protocol/port in port order."""
    refs, slots = _keys(matrix)
    by_key = {_flow_key(r, refs, slots): r for r in outcome.run.results}
    bad = {(v.from_, v.to, v.port, v.protocol) for v in outcome.violations}
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for k, slot in enumerate(matrix.slots):
        groups[slot.protocol.value, slot.port].append(k)
    return by_key, bad, sorted(groups.items(), key=lambda g: (g[0][1], g[0][0]))


def _tables(matrix: Matrix, outcome: LiveOutcome) -> list[str]:
    by_key, bad, groups = _port_tables(matrix, outcome)
    out: list[str] = []
    n = len(matrix.endpoints)
    width = len(str(n))
    for (proto, port), ks in groups:
        cols = [matrix.slots[k].endpoint for k in ks]
        head = " ".join(f"{c + 1:>{width}}" for c in cols)
        block = max(len(head), 8)
        out.append(f"{proto}/{port}  (rows: from, columns: to)")
        out.append(
            " " * (width + 1) + "  ".join(f"{t:<{block}}" for t in ("expected", "observed", "diff"))
        )
        out.append(" " * (width + 1) + "  ".join(f"{head:<{block}}" for _ in range(3)))
        for src in range(n):
            cells: tuple[list[str], list[str], list[str]] = ([], [], [])
            for k, dst in zip(ks, cols, strict=True):
                r = by_key.get((src, k))
                expected = _cell_expected(r)
                cells[0].append("-" if src == dst else expected)
                cells[1].append("-" if src == dst else _cell_observed(r))
                violated = r is not None and (r.from_, r.to, r.port, r.protocol) in bad
                cells[2].append("-" if src == dst else _cell_diff(r, violated))
            row = [" ".join(f"{c:>{width}}" for c in part) for part in cells]
            out.append(f"{src + 1:>{width}} " + "  ".join(f"{p:<{block}}" for p in row))
        out.append("")
    return out


def _cell_expected(r: ProbeResult | None) -> str:
    """The expected-table cell of one result: ``.`` approved, ``X`` not, blank not governed."""
    if r is None or r.expected is None:
        return " "
    return "." if r.expected else "X"


def _tries(n: int) -> str:
    return "1 try" if n == 1 else f"{n} tries"


def live_text(matrix: Matrix, outcome: LiveOutcome) -> str:
    """The operator's view of a live run (see the module docstring for the legend)."""
    s, run = outcome.stats, outcome.run
    lines = [
        f"live lab {s.lab}: {s.hosts} hosts, {s.isolated_pods} with policy chains, deny action "
        f"{s.deny_action}; built in {s.build_s:.2f} s",
        f"probed {len(run.results)} flows ({s.attempts} connects, <= {run.tries_per_flow} tries, "
        f"timeout {run.timeout_s:g} s, {s.parallel} in parallel) in {s.probe_s:.2f} s, "
        f"{run.started_at} .. {run.finished_at}",
    ]
    if s.service:
        lines.append(f"real reference service: {s.service}")
    if run.control is not None:
        c = run.control
        lines.append(
            f"positive control {c.from_} -> {c.to} {c.protocol}/{c.port}: {c.observed.value} "
            f"({_tries(c.tries)})"
        )
    if not run.enforcement_verified:
        lines += [run.notes, "ENFORCEMENT NOT VERIFIED: nothing below may be read as isolated"]
        return "\n".join(lines) + "\n"
    lines.append(
        "legend: expected '.' approved 'X' not approved; observed '.' open 'X' blocked '?' no "
        "value; '-' itself; diff '.' as predicted 'W' wrong 'V' violates the expectations"
    )
    lines.append("endpoints:")
    width = len(str(len(matrix.endpoints)))
    lines += [f"  {i + 1:>{width}}  {e.ref}" for i, e in enumerate(matrix.endpoints)]
    lines.append("")
    lines += _tables(matrix, outcome)
    for r in run.results:
        if r.correct is not True:
            what = "WRONG" if r.correct is False else "NO VALUE"
            last = r.attempts[-1].detail if r.attempts else ""
            lines.append(
                f"{what} {r.from_} -> {r.to} {r.protocol}/{r.port}: predicted "
                f"{'open' if r.predicted else 'blocked'}, observed {r.observed.value} "
                f"({_tries(r.tries)}; {last})"
            )
    lines += [str(v) for v in outcome.violations]
    lines.append(
        f"observed vs predicted: {run.wrong} wrong, {run.no_value} no value, {run.correct} correct"
    )
    if outcome.expectations_checked:
        lines.append(
            f"observed vs expected: {len(outcome.violations)} violated, {outcome.expected_ok} "
            f"as expected, {outcome.ignored} ignored (no zone, or an optional flow)"
        )
    verdict = "FAIL" if outcome.failed else "PASS"
    lines.append(f"live enforcement: {verdict}")
    return "\n".join(lines) + "\n"


# -- choosing the real service and the positive control (shared by the live and run jobs) -------

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
