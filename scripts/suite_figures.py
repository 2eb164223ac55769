"""Turn the proof suite's own figures into the README table (issue 10).

The suite's tests write what they measured to ``$SLO_SUITE_FIGURES/<name>.json``
(``tests/service/svc_support.record_figure``). This script renders those files as one Markdown
table and replaces the block between ``<!-- suite-figures:start -->`` and
``<!-- suite-figures:end -->`` in README.md. Nothing is typed by hand: a figure the suite did not
produce is shown as "not run".

    SLO_SUITE_FIGURES=/tmp/figs SLO_SUITE_PROFILE=full .venv/bin/pytest -q tests/service \
        tests/cli/test_cli_inputs_fuzz.py tests/e2e/test_gameday_interrupt_e2e.py
    .venv/bin/python scripts/suite_figures.py /tmp/figs README.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

START = "<!-- suite-figures:start -->"
END = "<!-- suite-figures:end -->"


def _load(root: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(root.glob("*.json"))}


def _row(claim: str, doc: dict[str, Any] | None, figure: str, result: str) -> str:
    if doc is None:
        return f"| {claim} | not run | | |"
    return f"| {claim} | {figure} | {result} | {doc.get('profile', '?')} |"


def render(figs: dict[str, dict[str, Any]]) -> str:
    """The Markdown table for ``figs``."""
    lines = [
        "| Claim | Measured by the suite | Result | Profile |",
        "|---|---|---|---|",
    ]
    c = figs.get("crash")
    lines.append(_row(
        "kill -9 under load: no acknowledged decision lost or duplicated", c,
        f"{c['kills']} kills, {c['acknowledged']:,} acknowledged decisions, "
        f"{c['torn_tails_repaired']} torn tails repaired" if c else "",
        f"{c['lost']} lost, {c['duplicated']} duplicated" if c else "",
    ))  # fmt: skip
    p = figs.get("pan_hygiene")
    lines.append(_row(
        "no full PAN in responses or files", p,
        f"{p['pans_sent']:,} distinct PANs sent in {len(p['forms'])} forms; "
        f"{p['files_scanned']} files scanned" if p else "",
        f"{p['found_in_responses']} in responses, {p['found_in_files']} in files, "
        f"{p['pci_scan_findings']} pci-scan findings" if p else "",
    ))  # fmt: skip
    f = figs.get("fuzz-openapi")
    muts = [v for k, v in figs.items() if k.startswith("fuzz-mutation")]
    n_mut = sum(m["cases"] for m in muts)
    lines.append(_row(
        "fuzzing: no 5xx, responses conform, no PAN echoed", f,
        f"{f['cases']:,} cases (schemathesis + {n_mut:,} raw-byte mutations)" if f else "",
        f"{f['server_errors']} server errors, {f['pans_echoed']} PANs echoed" if f else "",
    ))  # fmt: skip
    k = figs.get("connections")
    lines.append(_row(
        "1,500 idle connections under a 1,024 fd limit", k,
        f"well-behaved client p50 {k['well_behaved_p50_ms']} ms, max "
        f"{k['well_behaved_max_ms']} ms" if k else "",
        "answered, no EMFILE" if k else "",
    ))  # fmt: skip
    o = figs.get("overload")
    judged = o is not None and o.get("client_bound_judged", False)
    lines.append(_row(
        "3x capacity: shed fast, admitted latency bounded", o,
        f"{o['offered_factor']:g}x of {o['capacity_rps']} req/s for {o['duration_s']:g} s, "
        f"a model of {o.get('model_cpu_ms', 'n/a')} ms CPU per call "
        f"({'on the inference thread' if o.get('inference_offloaded') else 'on the event loop'}; "
        f"wall p50 {o.get('model_call_p50_ms', 'n/a')} ms at start-up) "
        f"(CPU-share contention {o['contention']}x, load average "
        f"{o.get('load_average_1m', 'n/a')}): {o['admitted']:,} admitted, "
        f"{o['shed']:,} shed; {o.get('new_connections', 'n/a')} connections opened" if o else "",
        f"client side (from the intended send time): admitted p99 "
        f"{o['admitted_client_p99_ms']} ms, 503 p50 {o.get('shed_client_p50_ms', 'n/a')} / "
        f"p99 {o.get('shed_client_p99_ms', 'n/a')} ms, "
        f"new-connection p99 {o.get('new_connection_p99_ms', 'n/a')} ms, "
        f"{o.get('over_1s', 'n/a')} answers over 1 s; 503 from the actual send p50 "
        f"{o.get('shed_since_send_p50_ms', 'n/a')} / p99 {o.get('shed_since_send_p99_ms', 'n/a')} "
        f"ms (the source's own send lag p50 {o.get('source_send_lag_p50_ms', 'n/a')} ms); "
        f"bound {o.get('client_bound_ms', 'n/a')} ms "
        f"(50 ms x contention) {'held' if judged else 'NOT JUDGED (contention > 2)'}; "
        f"{o['shed_server_within_1ms']:.1%} of 503s within 1 ms server-side; "
        f"recovered in {o['recovery_s']} s" if o else "",
    ))  # fmt: skip
    m = figs.get("malformed_inputs")
    kinds = m["kinds"] if m else {}
    cases = sum(k.get("cases", 0) for k in kinds.values())
    exit2 = sum(k.get("exit 2", 0) for k in kinds.values())
    other = {
        code: sum(k.get(code, 0) for k in kinds.values()) for code in ("exit 0", "exit 1", "exit 3")
    }
    per_kind = ", ".join(f"{v.get('cases', 0)} {k}" for k, v in sorted(kinds.items()))
    lines.append(_row(
        "malformed input files: exit 2 naming file and field, never a traceback", m,
        f"{cases:,} broken files ({per_kind})" if m else "",
        f"{exit2:,} exit 2, each naming its file "
        f"and a $ path ({sum(k.get('named the field path', 0) for k in kinds.values()):,} "
        "field mutations, "
        f"{sum(k.get('named $ (unparsable text)', 0) for k in kinds.values()):,} damaged "
        "texts); "
        f"still valid: {other['exit 0'] + other['exit 1']} passed, {other['exit 3']} reached the "
        f"load step; 0 tracebacks, 0 internal errors" if m else "",
    ))  # fmt: skip
    runs = [v for k, v in sorted(figs.items()) if k.startswith("interrupt-")]
    left = sum(sum(r["leftovers"].values()) for r in runs)
    lines.append(_row(
        "SIGINT / SIGTERM / SIGKILL with faults active: nothing left behind",
        runs[0] if runs else None,
        f"{', '.join(r['signal'] for r in runs)} with {runs[0]['faults_active']} faults active "
        f"(cgroup freeze, proxy toxic, nft loss, tbf; {sum(r['resources_seen'] for r in runs)} "
        "processes, namespaces and cgroups seen)" if runs else "",
        f"exit codes {', '.join(str(r['exit_code']) for r in runs)} (3 = interrupted, journal "
        f"says so; -9 then `chaos cleanup` exit 0); {left} leftovers (processes, namespaces, "
        "cgroups, ledger entries, temp files, host nft/qdisc changes)" if runs else "",
    ))  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    figs = _load(Path(argv[1]))
    readme = Path(argv[2])
    text = readme.read_text()
    table = f"{START}\n{render(figs)}\n{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + table + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + table + "\n"
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
