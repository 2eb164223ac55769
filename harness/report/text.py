"""Plain-text rendering of a baseline comparison for ``slo-harness compare`` (a terminal, a log)."""

from __future__ import annotations

from harness.slo import Comparison

__all__ = ["render_comparison_text"]


def render_comparison_text(comparison: Comparison) -> str:
    """A few aligned lines: the outcome, one line per metric, then the notes."""
    c = comparison
    lines = [
        f"{'REGRESSED' if c.regressed else 'no regression'}: {c.new_label} vs baseline "
        f"{c.base_label} (tolerance {c.tolerance * 100:.4g}%, alpha {c.alpha:g})",
    ]
    header = ("", "phase", "endpoint", "metric", "base ms", "new ms", "ratio", "rule")
    rows = [
        (
            "!!" if m.regressed else "ok",
            m.phase,
            m.endpoint or "all",
            m.metric,
            f"{m.base_ms:.3f}",
            f"{m.new_ms:.3f}",
            f"{m.ratio:.3f}",
            m.rule.value,
        )
        for m in c.metrics
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    lines += [f"  - {m.reason}" for m in c.metrics if m.regressed]
    lines += [f"note: {n}" for n in c.notes]
    return "\n".join(lines)
