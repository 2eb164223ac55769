"""Golden files pin the text, JSON and Markdown formats (UPDATE_GOLDEN=1 rewrites; review diffs)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from netpol_support import ROOT

from harness.netpol import (
    Matrix,
    check,
    check_text,
    diff,
    diff_text,
    evaluate,
    lint,
    lint_text,
    load_expectations,
    load_manifests,
    load_probe_pods,
    matrix_json,
    matrix_md,
    matrix_text,
)

GOLDEN = ROOT / "tests" / "golden" / "netpol"
REL = Path("deploy/k8s")


def _golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 once and review it"
    assert actual == path.read_text(), f"{name} differs from its golden file"


@pytest.fixture
def relative(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root so file names in the output are relative and stable."""
    monkeypatch.chdir(ROOT)


def _matrix(policies: str) -> Matrix:
    pods = load_probe_pods(REL / "pci" / "pods.yaml")
    return evaluate(
        load_manifests(
            [REL / "base", REL / "policies" / policies],
            namespace="payments-pci",
            extra_endpoints=pods.endpoints,
            extra_namespaces=pods.namespaces,
        )
    )


@pytest.mark.usefixtures("relative")
def test_matrix_formats() -> None:
    """matrix text / json / md of the hardened set."""
    matrix = _matrix("hardened")
    _golden("matrix-hardened.txt", matrix_text(matrix))
    _golden("matrix-hardened.json", matrix_json(matrix))
    _golden("matrix-hardened.md", matrix_md(matrix))
    rows = orjson.loads(matrix_json(matrix))
    assert set(rows[0]) == {"from", "to", "port", "protocol", "allowed", "reason"}


@pytest.mark.usefixtures("relative")
def test_lint_check_and_diff_text() -> None:
    """lint and check of the issue's policy, diff issue -> hardened."""
    issue, hardened = _matrix("issue-8"), _matrix("hardened")
    expectations = load_expectations(REL / "pci" / "expectations.yaml")
    _golden("lint-issue.txt", lint_text(lint(issue)))
    _golden("check-issue.txt", check_text(check(issue, expectations)))
    _golden("diff-issue-to-hardened.txt", diff_text(diff(issue, hardened, expectations)))
