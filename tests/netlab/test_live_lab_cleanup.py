"""Cleanup of the live enforcement lab (root): Ctrl-C removes it, and the ledger sweep removes a
SIGKILLed run's. These judge exit codes and which namespaces are left, never a probe's timing:
they run in the parallel pass (tests/conftest.py), apart from test_live_lab.py's probes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netlab_support import BASE, HARDENED, PODS

from harness.netns import list_namespaces

pytestmark = pytest.mark.root


def _cli(prefix: str, state: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SLO_HARNESS_NETNS_PREFIX": prefix, "SLO_HARNESS_STATE_DIR": str(state)}
    argv = [sys.executable, "-m", "harness.cli", "netpol", "matrix", str(BASE), str(HARDENED)]
    argv += ["--pods", str(PODS), "-n", "payments-pci", "--live", *extra]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_lab(prefix: str, count: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while len(list_namespaces(prefix)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list_namespaces(prefix)) >= count, "the lab never appeared"


def test_ctrl_c_removes_the_lab(lab_prefix: str, tmp_path: Path) -> None:
    """SIGINT mid-run: exit 3 and every namespace of the lab is gone when the command returns."""
    proc = _cli(lab_prefix, tmp_path / "state", "--timeout-s", "2", "--service", "none")
    try:
        _wait_for_lab(lab_prefix, 12)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err.decode()
    assert list_namespaces(lab_prefix) == []


def test_a_crashed_run_is_removed_by_the_ledger_sweep(lab_prefix: str, tmp_path: Path) -> None:
    """SIGKILL mid-run leaves namespaces; `slo-harness chaos cleanup` removes them all."""
    state = tmp_path / "state"
    proc = _cli(lab_prefix, state, "--timeout-s", "2", "--service", "none")
    try:
        _wait_for_lab(lab_prefix, 12)
        time.sleep(0.5)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert list_namespaces(lab_prefix), "expected the killed run's lab to be left over"
    env = {
        **os.environ,
        "SLO_HARNESS_NETNS_PREFIX": lab_prefix,
        "SLO_HARNESS_STATE_DIR": str(state),
    }
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "chaos", "cleanup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list_namespaces(lab_prefix) == []
