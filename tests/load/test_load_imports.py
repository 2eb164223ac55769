"""Import hygiene: only running load imports Locust/gevent."""

from __future__ import annotations

import subprocess
import sys

from load_support import ROOT

_PURE = (
    "harness.slo",
    "harness.report",
    "harness.measure",
    "harness.spec",
    "harness.load",
    "harness.load.options",
    "harness.load.http",
    "harness.load.health",
    "harness.load.summary",
    "harness.load.workload",
    "harness.chaos",
    "harness.chaos.gameday",
    "harness.gameday_job",
)


def test_verdict_report_and_measure_code_never_imports_gevent() -> None:
    """Importing slo/report/measure (and harness.load's entry module) loads neither gevent nor
    Locust, so those packages are never monkey-patched."""
    code = (
        "import importlib, sys\n"
        f"for name in {_PURE!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('gevent', 'locust'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
