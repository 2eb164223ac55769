"""Process faults against throwaway children: in effect when injected, gone after rollback,
and removable by their ledger undo handler alone (what cleanup does after a SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from harness.chaos import (
    ChildSupervisor,
    CpuHogFault,
    CpuThrottleFault,
    Fault,
    FaultGuard,
    KillFault,
    MemoryPressureFault,
    PauseFault,
    PauseMethod,
    ProcessRef,
    WorkerPool,
    cgroup_mounts,
    cpu_quota_interface,
    freeze_supported,
    stress_ng_path,
    tcp_ready,
)
from harness.chaos.cgroups import origin_of
from harness.chaos.procs import tagged_pids, wait_until
from harness.errors import FaultError
from harness.ledger import Ledger, UndoStatus, sweep
from harness.target import launch_reference_service

PROGRAMS = Path(__file__).parent / "programs"
_SLEEPER = "import time\nwhile True: time.sleep(0.05)"
_SPINNER = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end: pass"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "state")


def _child(code: str) -> Iterator[ProcessRef]:
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield ProcessRef.of(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGCONT)  # in case a failed test left it stopped
        proc.kill()
        proc.wait()


@pytest.fixture
def sleeper() -> Iterator[ProcessRef]:
    yield from _child(_SLEEPER)


@pytest.fixture
def spinner() -> Iterator[ProcessRef]:
    yield from _child(_SPINNER)


def _inject_then_sweep(fault: Fault, ledger: Ledger) -> None:
    """Inject as the guard would, then remove it through the ledger only (as after a SIGKILL)."""
    spec = fault.undo_entry()
    ledger.record(spec.kind, spec.key, spec.undo)
    fault.inject()
    assert fault.is_active()
    (item,) = sweep(ledger, everything=True)
    assert item.status is UndoStatus.REMOVED, item
    assert not fault.is_active()
    assert ledger.entries() == []


def test_sigstop_pause_stops_and_resumes_the_target(ledger: Ledger, sleeper: ProcessRef) -> None:
    """SIGSTOP: the target's /proc state is T while active and not after rollback."""
    fault = PauseFault(sleeper)
    with FaultGuard(ledger) as guard:
        guard.inject(fault)
        assert sleeper.stopped()
        assert fault.is_active()
    assert not sleeper.stopped()
    assert sleeper.alive()
    assert guard.records[0].verified_gone


def test_sigstop_pause_undo_handler_resumes(ledger: Ledger, sleeper: ProcessRef) -> None:
    """The ledger entry alone resumes a paused target."""
    _inject_then_sweep(PauseFault(sleeper), ledger)
    assert not sleeper.stopped()


def test_pause_includes_children_and_never_foreign_processes(ledger: Ledger) -> None:
    """A target's children stop with it; a process the harness did not start is refused."""
    code = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {_SLEEPER!r}])\n"
    code += "time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        parent = ProcessRef.of(proc.pid)
        assert wait_until(lambda: bool(parent.descendants()), 5.0)
        (child,) = parent.descendants()
        with FaultGuard(ledger) as guard:
            guard.inject(PauseFault(parent))
            assert parent.stopped()
            assert child.stopped()
        assert not child.stopped()
        with pytest.raises(FaultError, match="not started by this harness"):
            PauseFault(ProcessRef.of(os.getppid())).undo_entry()
        stale = ProcessRef(child.pid, child.start_s - 10)  # a reused pid: never signalled
        assert not stale.signal(signal.SIGSTOP)
        assert not stale.alive()
    finally:
        for p in psutil.Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()
        proc.wait()


@pytest.mark.root
@pytest.mark.skipif(not freeze_supported(), reason="needs cgroup v2 cgroup.freeze")
def test_freeze_pause_uses_our_cgroup_and_puts_the_target_back(
    ledger: Ledger, sleeper: ProcessRef
) -> None:
    """cgroup freeze: frozen in a cgroup of ours, then back in its original cgroup, ours gone."""
    mount = cgroup_mounts().v2
    assert mount is not None
    before = origin_of(sleeper.pid, mount)
    fault = PauseFault(sleeper, method=PauseMethod.FREEZE)
    with FaultGuard(ledger) as guard:
        guard.inject(fault)
        assert fault.cgroup is not None
        assert "frozen 1" in (fault.cgroup.path / "cgroup.events").read_text()
        assert origin_of(sleeper.pid, mount) == f"/{fault.cgroup.name}"
    assert not fault.cgroup.path.exists()
    assert origin_of(sleeper.pid, mount) == before


@pytest.mark.root
@pytest.mark.skipif(not freeze_supported(), reason="needs cgroup v2 cgroup.freeze")
def test_freeze_undo_handler_thaws_and_removes(ledger: Ledger, sleeper: ProcessRef) -> None:
    """The ledger entry alone thaws the target and removes the cgroup."""
    fault = PauseFault(sleeper, method=PauseMethod.FREEZE)
    _inject_then_sweep(fault, ledger)
    assert fault.cgroup is not None
    assert not fault.cgroup.path.exists()


def _cpu_share(ref: ProcessRef, window_s: float) -> float:
    proc = psutil.Process(ref.pid)
    before, start = sum(proc.cpu_times()[:2]), time.monotonic()
    time.sleep(window_s)
    return (sum(proc.cpu_times()[:2]) - before) / (time.monotonic() - start)


@pytest.mark.root
@pytest.mark.skipif(cpu_quota_interface() is None, reason="needs a cgroup cpu controller")
def test_cpu_throttle_limits_a_busy_target(ledger: Ledger, spinner: ProcessRef) -> None:
    """A spinning child under a 0.05 CPU quota uses about 0.05 CPU, and more once lifted."""
    fault = CpuThrottleFault(spinner, cpus=0.05)
    with FaultGuard(ledger) as guard:
        guard.inject(fault)
        assert fault.cgroup is not None
        assert fault.cgroup.holds(spinner)
        throttled = _cpu_share(spinner, 1.0)
    free = _cpu_share(spinner, 0.5)
    assert throttled < 0.1, throttled  # 0.05 CPU, plus accounting slack
    # A ratio, not an absolute: on the shared 2-core box an unthrottled spinner got ~0.3 CPU.
    assert free > 1.5 * throttled, (free, throttled)
    assert not fault.cgroup.path.exists()


@pytest.mark.root
@pytest.mark.skipif(cpu_quota_interface() is None, reason="needs a cgroup cpu controller")
def test_cpu_throttle_undo_handler_lifts_and_removes(ledger: Ledger, sleeper: ProcessRef) -> None:
    """The ledger entry alone moves the target back and removes the cgroup."""
    fault = CpuThrottleFault(sleeper, cpus=0.5)
    _inject_then_sweep(fault, ledger)
    assert fault.cgroup is not None
    assert not fault.cgroup.path.exists()


@pytest.mark.parametrize("stress_ng", [True, False], ids=["stress-ng", "python"])
def test_cpu_hog_runs_until_rolled_back(ledger: Ledger, stress_ng: bool) -> None:
    """The hog's processes burn CPU while active and are all gone (reaped) after rollback."""
    if stress_ng and stress_ng_path() is None:
        pytest.skip("stress-ng is not installed (scripts/install-test-deps.sh installs it)")
    fault = CpuHogFault(workers=2, load_pct=30, max_duration_s=30, use_stress_ng=stress_ng)
    with FaultGuard(ledger) as guard:
        guard.inject(fault)
        assert len(tagged_pids(fault.tag)) == (3 if stress_ng else 2)
    assert tagged_pids(fault.tag) == []
    assert not [c for c in psutil.Process().children() if c.status() == psutil.STATUS_ZOMBIE]


def test_hog_undo_handler_kills_every_tagged_process(ledger: Ledger) -> None:
    """The ledger entry alone kills the hog, stress-ng's forked workers included."""
    fault = CpuHogFault(workers=2, load_pct=10, max_duration_s=30)
    _inject_then_sweep(fault, ledger)
    fault.rollback()  # reaps; nothing left to kill


def test_memory_pressure_holds_resident_memory_and_refuses_too_much(ledger: Ledger) -> None:
    """64 MiB stays resident while active; a size beyond the available share is refused."""
    fault = MemoryPressureFault(size_bytes=64 * 2**20, max_duration_s=30)
    with FaultGuard(ledger) as guard:
        guard.inject(fault)
        assert fault.resident_bytes() >= 0.9 * 64 * 2**20
    assert fault.resident_bytes() == 0
    assert tagged_pids(fault.tag) == []
    huge = MemoryPressureFault(size_bytes=psutil.virtual_memory().total, max_duration_s=30)
    with FaultGuard(ledger) as guard, pytest.raises(FaultError, match="refused"):
        guard.inject(huge)
    assert tagged_pids(huge.tag) == []
    assert ledger.entries() == []


def test_kill_restarts_a_supervised_server(ledger: Ledger) -> None:
    """kill -9: the server is down (port closed) while active; rollback restarts it, ready."""
    with _echo_server(ledger) as (server, port):
        ready = tcp_ready(port)
        before = server.process()
        fault = KillFault(server, label="echo server")
        with FaultGuard(ledger) as guard:
            guard.inject(fault)
            assert fault.is_active()
            assert not ready()
            assert before is not None
            assert not before.alive()
        after = server.process()
        assert after is not None
        assert after != before
        assert ready()
        record = guard.records[0]
        assert record.verified_gone
        assert record.fault == "kill -9 echo server"
    assert not ready()
    assert ledger.entries() == []


def test_supervisor_entry_lets_cleanup_kill_an_orphaned_server(ledger: Ledger) -> None:
    """The supervisor's ledger entry kills its server (and children) from another process."""
    with _echo_server(ledger) as (_server, port):
        assert [e.kind for e in ledger.entries()] == ["chaos.child"]
        (item,) = sweep(ledger, everything=True)
        assert item.status is UndoStatus.REMOVED
        # A SIGKILLed multi-threaded server's leader is a zombie while its other threads still
        # exit, and the shared fd table (the listening socket) closes with the last of them.
        assert wait_until(lambda: not tcp_ready(port)(), 3.0)


@contextlib.contextmanager
def _echo_server(ledger: Ledger) -> Iterator[tuple[ChildSupervisor, int]]:
    """An echo server under a ChildSupervisor on a free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = [sys.executable, str(PROGRAMS / "echo_server.py"), str(port)]
    with ChildSupervisor(argv, ledger, tcp_ready(port), label="echo") as server:
        yield server, port


@pytest.mark.slow
def test_kill_one_worker_of_the_reference_service_and_its_master_restarts_it(
    ledger: Ledger,
) -> None:
    """kill -9 of one uvicorn worker: down to 1 of 2 while active; the master restores 2."""
    with launch_reference_service(workers=2) as url:
        (service,) = [
            ProcessRef.of(p.pid)
            for p in psutil.Process().children()
            if "reference_service" in p.cmdline()
        ]
        pool = WorkerPool(service, ready_check=lambda: _answers(url))
        # uvicorn starts its workers one by one after the first answers: wait for both.
        assert wait_until(lambda: len(pool.members()) == 2 and pool.ready(), 15.0)
        victim = pool.process()
        fault = KillFault(pool, label="one scoring worker")
        with FaultGuard(ledger) as guard:
            guard.inject(fault)
            assert victim is not None
            assert not victim.alive()  # (inject already saw the pool one worker short)
            assert _answers(url)  # the other worker still serves
        (record,) = guard.records
        print(f"worker back {record.rolled_back_at_s - record.injected_at_s:.2f} s after the kill")
        assert record.verified_gone
        assert len(pool.members()) == 2
        assert victim not in pool.members()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/health/ready", timeout=10.0).status_code == 200
    except httpx.HTTPError:
        return False


_IN_SMALL_CGROUP = """
import os, sys
from pathlib import Path
Path(sys.argv[1], "cgroup.procs").write_text(str(os.getpid()))
from harness.chaos import FaultGuard, MemoryPressureFault
from harness.chaos.cgroups import memory_headroom_bytes
from harness.errors import FaultError
print(memory_headroom_bytes())
try:
    with FaultGuard() as guard:
        guard.inject(MemoryPressureFault(size_bytes=80 * 2**20, max_duration_s=10))
    print("injected")
except FaultError as exc:
    print(exc)
"""


@pytest.mark.root
@pytest.mark.skipif(cgroup_mounts().v1_memory is None, reason="needs the v1 memory controller")
def test_memory_pressure_respects_the_harness_cgroup_limit(tmp_path: Path) -> None:
    """Inside a 128 MiB memory cgroup an 80 MiB hog is refused (above half the headroom)."""
    mount = cgroup_mounts().v1_memory
    assert mount is not None
    group = mount / f"slo-harness-test-{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(128 * 2**20))
        env = {**os.environ, "SLO_HARNESS_STATE_DIR": str(tmp_path / "state")}
        proc = subprocess.run(
            [sys.executable, "-c", _IN_SMALL_CGROUP, str(group)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        headroom, outcome = proc.stdout.splitlines()[:2]
        assert 0 < int(headroom) < 128 * 2**20, proc.stdout + proc.stderr
        assert "refused" in outcome, proc.stdout + proc.stderr
    finally:
        wait_until(lambda: not (group / "cgroup.procs").read_text().strip(), 5.0)
        group.rmdir()
