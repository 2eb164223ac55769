"""``audit show``: the dossier of one decision, as an analyst hands it over for a dispute.

One verified record, its place in the verified chain (seq, prev, mac, and the head the stream
leads to now), the model (card summary, version, digest), the thresholds, every feature value with
its name and meaning, the replayed score and decision, the reason codes in words, and whether the
decision was degraded. Built as plain, already-formatted sections (:class:`Dossier`), so text, JSON
and HTML (``harness.report.render_dossier_html``) print the same facts.

Card data: the record holds a card token and at most the last four digits; the dossier prints the
token and ``**** 1234`` and nothing else about the card. Renderers add nothing from outside the
record, the model card and the thresholds.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.audit.model import AuditReport
from harness.audit.model_file import ReplayModel
from harness.audit.replay import Reproduction, reproduce
from harness.audit.rules import FEATURE_SCHEMAS, Thresholds, explain_reason
from harness.audit.verify import VerifiedRecord, verify_directory
from harness.errors import UsageError

__all__ = ["DOSSIER_SCHEMA_VERSION", "Dossier", "build_dossiers", "dossier_json", "dossier_text"]

DOSSIER_SCHEMA_VERSION = 1
_LONG_RUN = re.compile(r"[0-9]{12}")


@dataclass(frozen=True, slots=True)
class Section:
    """A titled list of (label, value) facts."""

    title: str
    facts: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class FeatureRow:
    column: int
    name: str
    value: str
    meaning: str
    missing: bool


@dataclass(frozen=True, slots=True)
class ReasonRow:
    code: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Dossier:
    """Everything ``audit show`` prints about one decision record."""

    transaction_id: str
    verdict: str  # REPRODUCED / NOT REPRODUCED
    sections: tuple[Section, ...]
    features: tuple[FeatureRow, ...]
    reasons: tuple[ReasonRow, ...]
    differences: tuple[str, ...]
    chain_ok: bool


def _card(rec: dict[str, object]) -> str:
    last4 = rec.get("last4")
    tail = f"**** {last4}" if isinstance(last4, str) else "token request, no PAN sent"
    return f"{rec['card_token']} ({tail})"


def _value(v: float) -> str:
    return "NaN (missing)" if math.isnan(v) else _num(v)


def _num(x: float) -> str:
    """9 significant digits (a float32 round-trips), never a run of 12+ digits: ``0.000123…``
    with 9 digits would be one, and a PAN scanner must not flag a dossier."""
    text = f"{x:.9g}"
    return text if not _LONG_RUN.search(text) else f"{x:.8e}"


def _build(
    where: VerifiedRecord,
    audit: AuditReport,
    model: ReplayModel,
    th: Thresholds,
    th_source: str,
    tolerance: float,
) -> Dossier:
    rec = where.record
    rep: Reproduction = reproduce(rec, model, th, tolerance)
    stream = next(s for s in audit.streams if s.stream == rec["stream"])
    degraded = bool(rec["degraded"])
    decision = Section(
        "Decision",
        (
            ("transaction", str(rec["transaction_id"])),
            ("request", str(rec["request_id"])),
            ("decided at", str(rec["ts"])),
            ("card", _card(rec)),
            ("decision", str(rec["decision"])),
            ("score", _num(float(rec["score"]))),  # type: ignore[arg-type]
            ("degraded", "yes: " + explain_reason("FEATURES_UNAVAILABLE", th) if degraded
             else "no: every feature-store value was available"),
            ("missing features", ", ".join(rec["missing_features"]) or "none"),  # type: ignore[arg-type]
            ("service latency", f"{_num(float(rec['latency_ms']))} ms to the decision"),  # type: ignore[arg-type]
        ),
    )  # fmt: skip
    chain = Section(
        "Chain position",
        (
            ("stream", str(rec["stream"])),
            ("segment", f"{where.file} line {where.line}"),
            ("seq", str(rec["seq"])),
            ("prev", str(rec["prev"])),
            ("mac", where.mac),
            ("leads to head", f"{stream.stream}:{stream.last_seq}:{stream.head_mac}"),
            ("chain", "verified intact" if audit.ok else "BROKEN: see audit verify"),
        ),
    )
    card = model.card_summary()
    model_section = Section(
        "Model",
        (
            ("version (recorded)", str(rec["model_version"])),
            ("SHA-256 (recorded)", str(rec["model_sha256"])),
            ("file replayed", f"{model.path.name}, SHA-256 {model.sha256}"),
            *((f"card: {k}", v) for k, v in card.items()),
            ("feature schema", str(rec["feature_schema"])),
        ),
    )
    thresholds = Section(
        "Thresholds",
        (
            ("version", th.version),
            ("source", th_source),
            ("review at score >=", f"{th.review:g}"),
            ("decline at score >=", f"{th.decline:g}"),
            ("velocity flags", f"{th.velocity_1h} in 1 h, {th.velocity_24h} in 24 h"),
            ("new account", f"younger than {th.new_account_days:g} days"),
        ),
    )
    replayed = Section(
        "Reproduction",
        (
            ("replayed score", _num(rep.score)),
            ("difference", f"{abs(rep.score - float(rec['score'])):.3g} (tolerance {tolerance:g})"),  # type: ignore[arg-type]
            ("replayed decision", rep.decision),
            ("replayed reason codes", ", ".join(rep.reason_codes) or "none"),
            ("verdict", "REPRODUCED" if rep.reproduced else "NOT REPRODUCED"),
        ),
    )  # fmt: skip
    meanings = dict(FEATURE_SCHEMAS[str(rec["feature_schema"])])
    features = tuple(
        FeatureRow(i, name, _value(v), meanings[name], math.isnan(v))
        for i, (name, v) in enumerate(zip(rep.columns, rep.values, strict=True))
    )
    codes: Sequence[str] = rec["reason_codes"]  # type: ignore[assignment]
    reasons = tuple(ReasonRow(c, explain_reason(c, th)) for c in codes)
    return Dossier(
        transaction_id=str(rec["transaction_id"]),
        verdict="REPRODUCED" if rep.reproduced else "NOT REPRODUCED",
        sections=(decision, chain, model_section, thresholds, replayed),
        features=features,
        reasons=reasons,
        differences=rep.differences,
        chain_ok=audit.ok,
    )


def build_dossiers(
    directory: Path,
    key: bytes,
    transaction_id: str,
    models: Sequence[ReplayModel],
    thresholds: Sequence[tuple[Thresholds, str]],
    tolerance: float,
) -> tuple[AuditReport, list[Dossier]]:
    """Verify the trail and build a dossier for every verified record of ``transaction_id``."""
    found: list[VerifiedRecord] = []

    def visit(where: VerifiedRecord) -> None:
        if where.record["transaction_id"] == transaction_id:
            found.append(where)

    audit = verify_directory(directory, key, visit=visit)
    by_sha = {m.sha256: m for m in models}
    by_version = {t.version: (t, src) for t, src in thresholds}
    out: list[Dossier] = []
    for where in found:
        rec = where.record
        if rec["v"] != 3:
            raise UsageError(
                f"{where.file} line {where.line}: a format-2 record keeps no feature vector; "
                "its decision cannot be replayed"
            )
        model = by_sha.get(str(rec["model_sha256"]))
        if model is None:
            given = "; ".join(f"{m.path} has SHA-256 {m.sha256}" for m in models)
            raise UsageError(
                f"the record names model SHA-256 {rec['model_sha256']}, but {given}: "
                "refusing to replay with another model"
            )
        th = by_version.get(str(rec["thresholds_version"]))
        if th is None:
            raise UsageError(
                f"the record names thresholds version {rec['thresholds_version']!r}; pass "
                "--thresholds FILE with that version"
            )
        out.append(_build(where, audit, model, th[0], th[1], tolerance))
    return audit, out


def dossier_text(d: Dossier) -> str:
    """The dossier as plain text (the default of ``audit show``)."""
    out = [f"Decision dossier: transaction {d.transaction_id}: {d.verdict}"]
    for s in d.sections:
        out += ["", s.title]
        width = max(len(k) for k, _ in s.facts)
        out += [f"  {k.ljust(width)}  {v}" for k, v in s.facts]
    out += ["", "Reason codes"]
    out += [f"  {r.code}: {r.explanation}" for r in d.reasons] or ["  none"]
    out += ["", "Features (model input as scored)"]
    width = max(len(f.name) for f in d.features)
    for f in d.features:
        out.append(f"  {f.column:>2} {f.name.ljust(width)}  {f.value:<14} {f.meaning}")
    if d.differences:
        out += ["", "Differences"] + [f"  {x}" for x in d.differences]
    return "\n".join(out) + "\n"


def dossier_json(dossiers: Sequence[Dossier]) -> bytes:
    """The dossiers as one stable JSON document (sorted keys, trailing newline)."""
    doc = {
        "schema_version": DOSSIER_SCHEMA_VERSION,
        "dossiers": [
            {
                "transaction_id": d.transaction_id,
                "verdict": d.verdict,
                "chain_ok": d.chain_ok,
                "sections": {s.title: dict(s.facts) for s in d.sections},
                "reason_codes": [{"code": r.code, "explanation": r.explanation} for r in d.reasons],
                "features": [
                    {"column": f.column, "name": f.name, "value": f.value, "missing": f.missing,
                     "meaning": f.meaning}
                    for f in d.features
                ],
                "differences": list(d.differences),
            }
            for d in dossiers
        ],
    }  # fmt: skip
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
