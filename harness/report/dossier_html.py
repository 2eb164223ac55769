"""The decision dossier (``slo-harness audit show --format html``) as one self-contained page.

Same approach as ``report.html``: Jinja2 with autoescaping and strict undefined, the shared
``_base.css`` inline, no script, no external reference, a ``default-src 'none'`` CSP; the page is
PAN-guarded (:func:`harness.report.pan_guard.check_no_pans`) before it is returned, so a page
with a card number is never produced. The facts come already formatted from
:class:`harness.audit.Dossier`; nothing is computed here.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.audit import Dossier
from harness.report.html_report import template_environment
from harness.report.pan_guard import check_no_pans
from harness.report.view import Cell, Table

__all__ = ["render_dossier_html"]


def _tables(d: Dossier) -> dict[str, object]:
    sections = [
        (
            s.title,
            Table(headers=("Fact", "Value"), rows=[(Cell(k, "key"), Cell(v)) for k, v in s.facts]),
        )
        for s in d.sections
    ]
    features = Table(
        headers=("#", "Feature", "Value", "Meaning"),
        rows=[
            (Cell(str(f.column), "num"), Cell(f.name), Cell(f.value, "fail" if f.missing else ""),
             Cell(f.meaning, "reason"))
            for f in d.features
        ],
        caption="The model input exactly as scored (float32), in the model's column order.",
    )  # fmt: skip
    reasons = Table(
        headers=("Code", "Explanation"),
        rows=[(Cell(r.code, "key"), Cell(r.explanation)) for r in d.reasons],
    )
    return {"d": d, "sections": sections, "features": features, "reasons": reasons}


def render_dossier_html(dossiers: Sequence[Dossier]) -> bytes:
    """The dossier page (one or more records of a transaction id) as UTF-8 bytes."""
    template = template_environment().get_template("dossier.html.j2")
    title = f"Decision dossier: {dossiers[0].transaction_id}" if dossiers else "Decision dossier"
    html = template.render(title=title, items=[_tables(d) for d in dossiers])
    check_no_pans({"dossier.html": html})
    return html.encode("utf-8")
