"""Suite-wide rules.

- Tests that need root, redis-server or chromium skip with the reason stated.
- Tests that measure latency or drive load are marked ``serial``: ``make test`` runs everything
  else on two xdist workers first, then these alone, so no measured figure shares the two cores
  with another test (the e2e gate goes INVALID at a load average of about 4, measured).
- Every test gets its own ledger directory and namespace prefix, so a sweep in one test (or one
  xdist worker) can never remove what another one created.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

_REQUIREMENTS: dict[str, tuple[bool, str]] = {
    "root": (
        hasattr(os, "geteuid") and os.geteuid() == 0,
        "needs root (network namespaces, nftables, cgroups); CI runs as root",
    ),
    "redis": (
        shutil.which("redis-server") is not None,
        "needs the redis-server binary (scripts/install-test-deps.sh installs it)",
    ),
    "browser": (
        shutil.which("chromium") is not None,
        "needs /usr/bin/chromium (scripts/install-test-deps.sh installs it)",
    ),
}


#: Test files whose assertions are about time (latency, rates, detection windows) or which run
#: the load generator: they run alone (``-m serial``), never beside another test.
_SERIAL_PATHS: tuple[str, ...] = (
    "tests/e2e/test_gate_e2e.py",
    "tests/e2e/test_lab_e2e.py",
    "tests/e2e/test_netpol_run_e2e.py",
    "tests/e2e/test_tail_e2e.py",
    "tests/load/",
    "tests/gameday/test_gameday_e2e.py",
    "tests/gameday/test_gameday_sweep.py",
    "tests/netlab/test_live_lab.py",
    "tests/chaos/test_proxy_http.py",
    "tests/chaos/test_proxy_tcp.py",
    "tests/chaos/test_proxy_service.py",
    "tests/chaos/test_pause_latency.py",
    "tests/chaos/test_network_faults.py",
    "tests/chaos/test_process_faults.py",
    "tests/chaos/test_gevent_guard.py",
    "tests/netns/test_netns_rules.py",
    "tests/service/test_svc_overload.py",
    "tests/service/test_svc_hardening.py",
    "tests/service/test_svc_crash.py",
    "tests/slo/test_slo_recorder_integration.py",
)
_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A private ledger directory and netns prefix per test (tests may still override them)."""
    monkeypatch.setenv("SLO_HARNESS_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("SLO_HARNESS_NETNS_PREFIX", f"t{os.getpid()}-")  # one per xdist worker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark timing tests ``serial``; skip tests whose requirement is missing, saying why."""
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(_ROOT).as_posix()
        if rel.startswith(_SERIAL_PATHS):
            item.add_marker(pytest.mark.serial)
        for name, (present, reason) in _REQUIREMENTS.items():
            if item.get_closest_marker(name) is not None and not present:
                item.add_marker(pytest.mark.skip(reason=reason))
