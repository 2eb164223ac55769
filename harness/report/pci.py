"""The PCI evidence bundle on disk: ``pci.json``, ``pci.md`` and ``MANIFEST.json``.

``harness.netpol`` computes the bundle (matrix, expectations, check, lints, diff, probe runs,
requirement statuses); this module only renders and writes it, through the same manifest writer
as run reports, so ``slo-harness report verify DIR`` checks a bundle like any run directory.
Writing: every file rendered in memory and PAN-guarded first, the old manifest removed, each
file replaced atomically, the new manifest last (an interrupted write fails verification rather
than passing with mixed files). The live lab reads a bundle back with :func:`read_pci_evidence`
(which verifies it first), adds its probe run (``harness.netpol.with_probe_run``) and writes it
again with its own extra artifacts (``extra``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec
import orjson

from harness.errors import ArtifactError, IntegrityError, UsageError
from harness.files import atomic_write_bytes, sha256_bytes
from harness.netpol import EvidenceBundle, Matrix, Status, matrix_md
from harness.report.manifest import MANIFEST_FILE, render_manifest, verify_report_dir
from harness.report.pan_guard import check_no_pans

__all__ = [
    "PCI_JSON",
    "PCI_MD",
    "read_pci_evidence",
    "render_pci_json",
    "render_pci_md",
    "write_pci_evidence",
]

PCI_JSON: Final = "pci.json"
PCI_MD: Final = "pci.md"
_OPTIONS: Final = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


def render_pci_json(bundle: EvidenceBundle) -> bytes:
    """pci.json bytes."""
    return orjson.dumps(msgspec.to_builtins(bundle), option=_OPTIONS)


def render_pci_md(bundle: EvidenceBundle, matrix: Matrix | None = None) -> str:
    """pci.md: requirement table first (what an assessor reads), then details."""
    out = [
        "# PCI DSS segmentation evidence",
        "",
        f"- standard: {bundle.standard}",
        f"- generated: {bundle.generated_at} by slo-harness {bundle.tool_version}",
        f"- inputs: {len(bundle.inputs)} files (SHA-256 in pci.json)",
        "",
        "## Requirements",
        "",
        "| requirement | status | basis |",
        "|---|---|---|",
    ]
    for req in bundle.requirements:
        mark = {
            Status.MET: "met",
            Status.NOT_MET: "**NOT MET**",
            Status.NOT_ASSESSED: "not assessed",
        }
        out.append(f"| {req.id} {req.title} | {mark[req.status]} | {req.basis} |")
    out.append("")
    for req in bundle.requirements:
        if req.items:
            out += [f"### {req.id}", ""]
            out += [f"- {item}" for item in req.items]
            if req.more_items:
                out.append(f"- ... and {req.more_items} more (pci.json)")
            out.append("")
    out += ["## Lints", ""]
    out += [
        f"- {f.severity.value} [{f.requirement}] `{f.code}` {f.subject}: {f.message}. Fix: {f.fix}"
        for f in bundle.lints
    ] or ["- none"]
    out.append("")
    if bundle.check is not None:
        c = bundle.check
        out += [
            "## Expectations check",
            "",
            f"{len(c.violations)} violating, {c.allowed_as_expected} allowed as approved, "
            f"{c.denied_as_expected} denied as expected, {c.ignored} ignored (no zone).",
            "",
        ]
        out += [
            f"- [{v.requirement}] `{v.from_}` -> `{v.to}` {v.protocol}/{v.port} ({v.kind.value})"
            for v in c.violations
        ]
        out.append("")
    if bundle.diff is not None:
        d = bundle.diff
        out += [
            "## Change",
            "",
            f"{len(d.opened)} flows opened, {len(d.closed)} closed, "
            f"{len(d.violations)} against the expectations.",
            "",
        ]
        out += [
            f"- opened `{x.from_}` -> `{x.to}` {x.protocol}/{x.port}: {x.reason}" for x in d.opened
        ]
        out += [
            f"- closed `{x.from_}` -> `{x.to}` {x.protocol}/{x.port}: {x.reason}" for x in d.closed
        ]
        out.append("")
    out += ["## Probe runs", ""]
    if not bundle.probes:
        out += [
            "None: the matrix is predicted from the manifests only (11.4.5/11.4.6 need probes).",
            "",
        ]
    for run in bundle.probes:
        verified = "verified" if run.enforcement_verified else "NOT VERIFIED"
        out += [
            f"- {run.method} {run.started_at} .. {run.finished_at}: enforcement {verified}; "
            f"{run.correct} correct, {run.wrong} wrong, {run.no_value} no value "
            f"({run.tries_per_flow} tries per flow, {run.timeout_s:g} s timeout)",
        ]
        out += [
            f"  - WRONG `{r.from_}` -> `{r.to}` {r.protocol}/{r.port}: predicted "
            f"{'allowed' if r.predicted else 'blocked'}, "
            f"observed {r.observed.value} after {r.tries} tries"
            for r in run.results
            if r.correct is False
        ]
    out.append("")
    if matrix is not None:
        out.append(matrix_md(matrix, heading_level=2))
    return "\n".join(out).rstrip() + "\n"


def write_pci_evidence(
    out_dir: Path,
    bundle: EvidenceBundle,
    *,
    matrix: Matrix | None = None,
    extra: Mapping[str, bytes] | None = None,
) -> str:
    """Write the bundle into ``out_dir``; returns the manifest's SHA-256."""
    files: dict[str, bytes] = {
        PCI_JSON: render_pci_json(bundle),
        PCI_MD: render_pci_md(bundle, matrix).encode(),
        **(extra or {}),
    }
    check_no_pans({name: data.decode("utf-8", "replace") for name, data in files.items()})
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    strangers = sorted(
        p.name for p in out_dir.iterdir() if p.name not in files and p.name != MANIFEST_FILE
    )
    if strangers:
        raise UsageError(
            f"{out_dir}: holds files not part of a PCI bundle ({', '.join(strangers)})"
        )
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
    for name, data in files.items():
        atomic_write_bytes(out_dir / name, data)
    manifest = render_manifest(files, created_by="slo-harness netpol")
    atomic_write_bytes(out_dir / MANIFEST_FILE, manifest)
    return sha256_bytes(manifest)


def read_pci_evidence(directory: Path) -> EvidenceBundle:
    """Read a bundle back after verifying it against its manifest."""
    report = verify_report_dir(directory)
    if not report.ok:
        raise IntegrityError(f"{directory}: " + "; ".join(str(p) for p in report.problems))
    try:
        return msgspec.json.decode((directory / PCI_JSON).read_bytes(), type=EvidenceBundle)
    except (OSError, msgspec.DecodeError) as exc:
        raise ArtifactError(f"{directory / PCI_JSON}: unreadable evidence ({exc})") from None
