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
from collections.abc import Iterator
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
#: Files under a serial directory that run no load and judge no time: the parallel pass takes
#: them (a new file under tests/load/ is serial until it is listed here). test_load_distributed
#: and test_load_remote judge counts, exact merges and clean exits with 30 s waits, never a
#: latency; test_load_worker and test_load_refusals judge exit codes and messages;
#: test_load_head_parse is a property test of the client's parser.
_NOT_SERIAL: tuple[str, ...] = (
    "tests/load/test_load_completion.py",
    "tests/load/test_load_distributed.py",
    "tests/load/test_load_head_parse.py",
    "tests/load/test_load_health.py",
    "tests/load/test_load_imports.py",
    "tests/load/test_load_refusals.py",
    "tests/load/test_load_remote.py",
    "tests/load/test_load_requests.py",
    "tests/load/test_load_schedule.py",
    "tests/load/test_load_summary.py",
    "tests/load/test_load_wire.py",
    "tests/load/test_load_worker.py",
    "tests/load/test_load_workload.py",
)
_ROOT = Path(__file__).resolve().parent.parent


def _is_serial(rel: str) -> bool:
    return rel.startswith(_SERIAL_PATHS) and not rel.startswith(_NOT_SERIAL)


@pytest.fixture(autouse=True)
def _isolated_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A private ledger directory and netns prefix per test (tests may still override them)."""
    monkeypatch.setenv("SLO_HARNESS_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.setenv("SLO_HARNESS_NETNS_PREFIX", f"t{os.getpid()}-")  # one per xdist worker


def _relative(path: Path) -> str:
    return path.resolve().relative_to(_ROOT).as_posix()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A pass selected by ``-m serial`` or ``-m "not serial"`` (``make test``) does not import the
    other pass's test files: each pass pays only for collecting its own tests (collecting all
    1,500 costs about 20 s of CPU per process, and the serial pass needs a tenth of them).

    Exact because the mark comes from the path alone: a test file is serial iff it lies under
    ``_SERIAL_PATHS`` and not under ``_NOT_SERIAL`` (an explicit ``@pytest.mark.serial``
    elsewhere is refused below).
    """
    selected = " ".join((config.option.markexpr or "").split())
    if selected not in ("serial", "not serial"):
        return None
    try:
        rel = _relative(collection_path)
    except ValueError:
        return None
    if collection_path.is_dir():
        if selected == "not serial":  # a directory that is serial as a whole
            exception = any(p.startswith(rel + "/") for p in _NOT_SERIAL)
            return ((rel + "/").startswith(_SERIAL_PATHS) and not exception) or None
        inside = any(p.startswith(rel + "/") or rel.startswith(p) for p in _SERIAL_PATHS)
        return (not inside) or None
    if not (collection_path.name.startswith("test_") and collection_path.suffix == ".py"):
        return None
    return (_is_serial(rel) != (selected == "serial")) or None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark timing tests ``serial``; skip tests whose requirement is missing, saying why."""
    for item in items:
        rel = _relative(Path(str(item.fspath)))
        if _is_serial(rel):
            item.add_marker(pytest.mark.serial)
        elif item.get_closest_marker("serial") is not None:
            raise pytest.UsageError(
                f"{item.nodeid}: mark a test serial by adding its path to _SERIAL_PATHS in "
                "tests/conftest.py (the serial pass collects only those paths)"
            )
        for name, (present, reason) in _REQUIREMENTS.items():
            if item.get_closest_marker(name) is not None and not present:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def netns_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A namespace prefix and state dir no other test uses, for this process and (through the
    environment) every `slo-harness` child it starts. Whatever namespace of it outlives the test
    is removed and fails the test: a child killed on a timeout cannot clean up after itself, and
    without this its lab stayed on the machine (seen: a 9-namespace boundary lab)."""
    import secrets

    from harness.netns import list_namespaces, sweep_prefix

    value = f"slotest{secrets.token_hex(3)}-"
    monkeypatch.setenv("SLO_HARNESS_NETNS_PREFIX", value)
    monkeypatch.setenv("SLO_HARNESS_STATE_DIR", str(tmp_path / "state"))
    yield value
    leaked = list_namespaces(value)
    if leaked:
        sweep_prefix(value)
    assert leaked == [], f"namespaces left behind: {leaked}"
