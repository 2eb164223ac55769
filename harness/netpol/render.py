"""Text, JSON and Markdown forms of matrices, checks, lints and diffs (pure; strings out).

Text matrix: one truth table per protocol/port (cyclonus prints one per port too), rows are
sources, columns the destinations declaring that port, ``.`` allowed, ``X`` blocked, ``-`` the
pod itself (left out: a pod is never blocked from itself); endpoints are numbered in a legend so
the table stays narrow. JSON matrix: the list of :class:`~harness.netpol.engine.Flow` rows sorted
by from, to, port, protocol. Markdown: the same tables with names, for pci.md and pull requests.
The golden files under tests/golden/netpol pin every format.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import msgspec
import orjson

from harness.netpol.diff import DiffResult
from harness.netpol.engine import Matrix
from harness.netpol.expect import CheckResult
from harness.netpol.lint import Finding, Severity

__all__ = [
    "check_json",
    "check_text",
    "diff_json",
    "diff_text",
    "lint_json",
    "lint_text",
    "matrix_json",
    "matrix_md",
    "matrix_text",
    "to_json",
]

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def to_json(value: object) -> str:
    """Indented JSON of a msgspec value (keys in declaration order)."""
    return orjson.dumps(msgspec.to_builtins(value), option=_OPTIONS).decode()


def _tables(matrix: Matrix) -> dict[tuple[str, int], list[int]]:
    """``{(protocol, port): [slot index, ...]}`` sorted by protocol then port."""
    tables: dict[tuple[str, int], list[int]] = defaultdict(list)
    for s, slot in enumerate(matrix.slots):
        tables[slot.protocol.value, slot.port].append(s)
    return {k: tables[k] for k in sorted(tables)}


def _cell(matrix: Matrix, src: int, s: int) -> str:
    slot = matrix.slots[s]
    if src == slot.endpoint:
        return "-"
    if not matrix.endpoints[src].is_pod and not matrix.endpoints[slot.endpoint].is_pod:
        return " "
    return "." if matrix.is_allowed(src, s) else "X"


def matrix_text(matrix: Matrix) -> str:
    """The truth tables with a numbered legend."""
    width = len(str(len(matrix.endpoints)))
    lines = ["endpoints:"]
    lines += [f"  {i + 1:>{width}}  {e.ref}" for i, e in enumerate(matrix.endpoints)]
    lines.append("legend: '.' allowed  'X' blocked  '-' itself (not probed)")
    for (proto, port), slots in _tables(matrix).items():
        cols = [matrix.slots[s].endpoint + 1 for s in slots]
        lines += ["", f"{proto}/{port}  (rows: from, columns: to)"]
        lines.append(" " * (width + 2) + " ".join(f"{c:>{width}}" for c in cols))
        for src in range(len(matrix.endpoints)):
            cells = [f"{_cell(matrix, src, s):>{width}}" for s in slots]
            lines.append(f"{src + 1:>{width}}  " + " ".join(cells))
    allowed = matrix.count_allowed()
    total = sum(1 for _ in matrix.pairs())
    lines += ["", f"{allowed} of {total} flows allowed, {total - allowed} blocked"]
    return "\n".join(lines) + "\n"


def matrix_json(matrix: Matrix) -> str:
    """The list of flow rows."""
    return to_json(list(matrix.flows()))


def matrix_md(matrix: Matrix, *, heading_level: int = 2) -> str:
    """Markdown tables (one per protocol/port) and the allowed flows with their reasons."""
    h = "#" * heading_level
    out = [f"{h} Reachability matrix", "", "`.` allowed, `X` blocked, `-` the pod itself.", ""]
    for (proto, port), slots in _tables(matrix).items():
        out += [f"{h}# {proto}/{port}", ""]
        out.append(
            "| from \\ to | "
            + " | ".join(f"`{matrix.endpoints[matrix.slots[s].endpoint].ref}`" for s in slots)
            + " |"
        )
        out.append("|---|" + "---|" * len(slots))
        for src, ep in enumerate(matrix.endpoints):
            out.append(
                f"| `{ep.ref}` | " + " | ".join(_cell(matrix, src, s).strip() for s in slots) + " |"
            )
        out.append("")
    out += [f"{h}# Allowed flows", "", "| from | to | port | reason |", "|---|---|---|---|"]
    for flow in matrix.flows():
        if flow.allowed:
            out.append(
                f"| `{flow.from_}` | `{flow.to}` | {flow.protocol}/{flow.port} | {flow.reason} |"
            )
    return "\n".join(out) + "\n"


def check_text(result: CheckResult) -> str:
    """Violations, one per line, and the cyclonus-style tally."""
    lines = [str(v) for v in result.violations]
    lines.append(
        f"{len(result.violations)} violating, {result.allowed_as_expected} allowed as approved, "
        f"{result.denied_as_expected} denied as expected, {result.ignored} ignored (no zone)"
    )
    lines.append("PCI segmentation: " + ("PASS" if result.ok else "FAIL"))
    return "\n".join(lines) + "\n"


def check_json(result: CheckResult) -> str:
    """The check result as JSON."""
    return to_json(result)


def lint_text(findings: Sequence[Finding]) -> str:
    """Findings, then a count by severity."""
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    lines = [str(f) for f in findings]
    lines.append(f"{errors} error(s), {len(findings) - errors} warning(s)")
    return "\n".join(lines) + "\n"


def lint_json(findings: Sequence[Finding]) -> str:
    """The findings as JSON."""
    return to_json(list(findings))


def diff_text(result: DiffResult) -> str:
    """Opened and closed flows with the responsible rules, then the gate's violations."""
    lines = [f"opened: {len(result.opened)}"]
    lines += [f"  + {c.from_} -> {c.to} {c.protocol}/{c.port}: {c.reason}" for c in result.opened]
    lines.append(f"closed: {len(result.closed)}")
    lines += [f"  - {c.from_} -> {c.to} {c.protocol}/{c.port}: {c.reason}" for c in result.closed]
    if result.violations:
        lines.append(f"opened flows the expectations do not allow: {len(result.violations)}")
        lines += [f"  {v}" for v in result.violations]
    lines.append("change gate: " + ("PASS" if result.ok else "FAIL"))
    return "\n".join(lines) + "\n"


def diff_json(result: DiffResult) -> str:
    """The diff as JSON."""
    return to_json(result)
