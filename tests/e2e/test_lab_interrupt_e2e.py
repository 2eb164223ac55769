"""Interrupting the lab runs through the real command line: SIGTERM during `run --lab`, Ctrl-C
while `run --netpol`'s load crosses the PCI boundary (exit 3, the service and every lab namespace
gone), and `--lab` with `--target` (exit 2 before any load). Root only; not serial: nothing here
judges time (the timed lab runs are test_lab_e2e.py and test_netpol_run_e2e.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from lab_support import K8S, NETPOL_SCENARIO, NETPOL_SLO, lab_cmd, lab_setup

from harness.netns import Namespace, list_namespaces

pytestmark = pytest.mark.slow


@pytest.mark.root
def test_sigterm_during_a_lab_run_removes_the_lab_and_the_service(
    tmp_path: Path, netns_prefix: str
) -> None:
    """SIGTERM mid-load: exit 3, the service process and every lab namespace are gone."""
    prefix = netns_prefix
    scenario = lab_setup(tmp_path, steady_s=60)
    with subprocess.Popen(
        lab_cmd(scenario, tmp_path / "out", "--lab"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        service_pids: list[int] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            svc = [n for n in list_namespaces(prefix) if n.endswith("-svc")]
            service_pids = Namespace(svc[0]).pids() if svc else []
            if service_pids:
                break
            time.sleep(0.2)
        assert service_pids, "the service never started inside the lab"
        time.sleep(4)  # into the load
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 3, stderr
    assert "interrupted" in stderr
    assert list_namespaces(prefix) == []
    assert not [p for p in service_pids if psutil.pid_exists(p)]


def test_lab_with_a_target_is_a_usage_error(tmp_path: Path, netns_prefix: str) -> None:
    """--lab launches the service itself: combining it with --target exits 2 before any load."""
    scenario = lab_setup(tmp_path, steady_s=1)
    done = subprocess.run(
        lab_cmd(scenario, tmp_path / "out", "--lab", "--target", "http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--lab" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.root
def test_ctrl_c_during_the_load_removes_the_boundary_lab(tmp_path: Path, netns_prefix: str) -> None:
    """SIGINT while the load crosses the boundary: exit 3, every lab namespace gone."""
    (tmp_path / "slo.yaml").write_text(NETPOL_SLO)
    (tmp_path / "gate.yaml").write_text(NETPOL_SCENARIO.replace("duration_s: 4", "duration_s: 60"))
    prefix = netns_prefix
    argv = [sys.executable, "-m", "harness.cli", "run", str(tmp_path / "gate.yaml")]
    argv += ["--no-progress", "--out", str(tmp_path / "out")]
    argv += ["--netpol", str(K8S / "base"), "--netpol", str(K8S / "policies" / "hardened")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        # the service runs inside the scorer's namespace once the load is about to start
        while time.monotonic() < deadline and not _service_up(prefix) and proc.poll() is None:
            time.sleep(0.2)
        if not _service_up(prefix):
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the run never reached the load: {out.decode()} {err.decode()}")
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, err.decode()
    assert list_namespaces(prefix) == []


def _service_up(prefix: str) -> bool:
    scorer = [n for n in list_namespaces(prefix) if n.endswith("-reference-service")]
    return bool(scorer) and bool(Namespace(scorer[0]).pids())
