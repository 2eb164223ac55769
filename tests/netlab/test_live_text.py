"""The live lab's operator text and Markdown are pinned by golden files (UPDATE_GOLDEN=1 rewrites;
review)."""

from __future__ import annotations

import functools
import itertools
import os
from pathlib import Path

from netlab_support import BASE, EXPECT, ISSUE8, reference_matrix

from harness.netpol import (
    FakeProber,
    LiveOutcome,
    LiveStats,
    Matrix,
    expected_verdicts,
    judge_live,
    live_md,
    live_text,
    load_expectations,
    probe_flows,
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "netlab"


@functools.cache  # loading and validating the manifests is most of the time
def _issue8_with_a_leak() -> tuple[Matrix, LiveOutcome]:
    """The issue's policy on enforcement that lets one predicted-blocked flow through."""
    matrix = reference_matrix(BASE, ISSUE8)
    expectations = load_expectations(EXPECT)
    opened = {(f.from_, f.to, f.protocol, f.port) for f in matrix.flows() if f.allowed}
    # enforcement that lets one predicted-blocked flow through: the lab must say WRONG and V
    leak = ("batch/report-builder", "payments-pci/feature-store", "TCP", 6379)
    ticks = itertools.count()
    run = probe_flows(
        matrix,
        FakeProber(opened | {leak}),
        method="live-lab",
        expected=expected_verdicts(matrix, expectations),
        tries=2,
        timeout_s=0.5,
        clock=lambda: f"2026-01-01T00:00:{next(ticks) % 60:02d}.000+00:00",
    )
    stats = LiveStats("sloh-abc123", 11, 4, "drop", 16, 1.5, 2.5, 180)
    return matrix, judge_live(matrix, run, stats, expectations)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_issue8_live_text_with_a_wrong_flow_matches_its_golden_file() -> None:
    """Expected/observed/diff tables, a WRONG line, violations with requirement ids, tallies."""
    _golden("live-issue8.txt", live_text(*_issue8_with_a_leak()))


def test_issue8_live_markdown_matches_its_golden_file() -> None:
    """`--format md`: a heading with the verdict, a table per port with W/V marks, discrepancies."""
    text = live_md(*_issue8_with_a_leak())
    assert text.startswith("## Live enforcement: FAIL\n")
    assert "| WRONG | `batch/report-builder` | `payments-pci/feature-store` | TCP/6379 |" in text
    _golden("live-issue8.md", text)
