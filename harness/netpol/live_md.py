"""A live lab run as Markdown: the same facts as :func:`~harness.netpol.live.live_text`, for a
pull-request comment or an evidence page. Pure.

Per protocol/port one table whose cells show what the lab *observed* (``.`` connected, ``X``
blocked, ``?`` the probe could not run, ``-`` the pod itself), suffixed ``W`` where that disagrees
with the engine's prediction and ``V`` where it violates the expectations; then a table of every
discrepancy and the tallies. Names are escaped: a pod ref is user input and must not break the
table (a ``|`` in a label would otherwise start a new column).
"""

from __future__ import annotations

from harness.netpol.engine import Matrix
from harness.netpol.live import LiveOutcome, _cell_observed, _port_tables, _tries
from harness.netpol.probe import ProbeResult

__all__ = ["live_md"]


def _esc(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _cell(r: ProbeResult | None, violated: bool) -> str:
    """Observed mark plus ``W`` (wrong vs the engine) and ``V`` (violates the expectations)."""
    mark = _cell_observed(r).strip()
    if r is not None and r.correct is False:
        mark += " **W**"
    if violated:
        mark += " **V**"
    return mark


def _tables(matrix: Matrix, outcome: LiveOutcome) -> list[str]:
    by_key, bad, groups = _port_tables(matrix, outcome)
    out: list[str] = []
    for (proto, port), ks in groups:
        cols = [matrix.slots[k].endpoint for k in ks]
        out += [f"### {proto}/{port}", ""]
        heads = " | ".join(f"`{_esc(matrix.endpoints[c].ref)}`" for c in cols)
        out += [f"| from \\ to | {heads} |", "|---|" + "---|" * len(cols)]
        for src, ep in enumerate(matrix.endpoints):
            cells = []
            for k, dst in zip(ks, cols, strict=True):
                r = by_key.get((src, k))
                hit = r is not None and (r.from_, r.to, r.port, r.protocol) in bad
                cells.append("-" if src == dst else _cell(r, hit))
            out.append(f"| `{_esc(ep.ref)}` | " + " | ".join(cells) + " |")
        out.append("")
    return out


def _discrepancies(outcome: LiveOutcome) -> list[str]:
    rows = [r for r in outcome.run.results if r.correct is not True]
    if not rows:
        return []
    out = [
        "### Discrepancies",
        "",
        "| what | from | to | port | predicted | observed | tries | last detail |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        what = "WRONG" if r.correct is False else "NO VALUE"
        last = r.attempts[-1].detail if r.attempts else ""
        out.append(
            f"| {what} | `{_esc(r.from_)}` | `{_esc(r.to)}` | {r.protocol}/{r.port} | "
            f"{'open' if r.predicted else 'blocked'} | {r.observed.value} | {r.tries} | "
            f"{_esc(last)} |"
        )
    return [*out, ""]


def live_md(matrix: Matrix, outcome: LiveOutcome) -> str:
    """The live run as Markdown: summary, observed tables, discrepancies, violations, verdict."""
    s, run = outcome.stats, outcome.run
    verdict = "FAIL" if outcome.failed else "PASS"
    if not run.enforcement_verified:
        verdict = "NOT VERIFIED"
    out = [
        f"## Live enforcement: {verdict}",
        "",
        f"- lab `{_esc(s.lab)}`: {s.hosts} hosts, {s.isolated_pods} with policy chains, deny "
        f"action {s.deny_action}, built in {s.build_s:.2f} s",
        f"- probed {len(run.results)} flows ({s.attempts} connects, <= {run.tries_per_flow} "
        f"tries, timeout {run.timeout_s:g} s, {s.parallel} in parallel) in {s.probe_s:.2f} s, "
        f"{run.started_at} .. {run.finished_at}",
    ]
    if s.service:
        out.append(f"- real reference service: {_esc(s.service)}")
    if run.control is not None:
        c = run.control
        out.append(
            f"- positive control `{_esc(c.from_)}` -> `{_esc(c.to)}` {c.protocol}/{c.port}: "
            f"{c.observed.value} ({_tries(c.tries)})"
        )
    out.append("")
    if not run.enforcement_verified:
        out += [_esc(run.notes), "", "**Enforcement not verified: nothing here is isolated.**"]
        return "\n".join(out) + "\n"
    out += [
        "Cells: `.` connected, `X` blocked, `?` no value, `-` the pod itself; **W** disagrees "
        "with the engine's prediction, **V** violates the expectations.",
        "",
    ]
    out += _tables(matrix, outcome)
    out += _discrepancies(outcome)
    if outcome.violations:
        out += ["### Violations", ""] + [f"- {_esc(str(v))}" for v in outcome.violations] + [""]
    out.append(
        f"Observed vs predicted: {run.wrong} wrong, {run.no_value} no value, {run.correct} correct."
    )
    if outcome.expectations_checked:
        out.append(
            f"Observed vs expected: {len(outcome.violations)} violated, {outcome.expected_ok} "
            f"as expected, {outcome.ignored} ignored (no zone, or an optional flow)."
        )
    return "\n".join(out) + "\n"
