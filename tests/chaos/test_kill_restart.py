"""kill -9 with a supervisor that restarts at once (uvicorn's master for a worker, the harness for
the whole service): down while restarting, back without waiting for the rollback, the time until
ready measured; and the game-day builders that choose the supervisor per ``scope``."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from harness.chaos import (
    SERVICE_PROCESS,
    ChildSupervisor,
    FaultGuard,
    KillFault,
    ServiceSupervisor,
    tcp_ready,
)
from harness.chaos.factory import FAULT_FACTORY, FaultContext
from harness.chaos.procs import wait_until
from harness.errors import FaultError
from harness.ledger import Ledger
from harness.spec.faults import KillFault as KillSpec
from harness.spec.faults import KillScope

ECHO = Path(__file__).parent / "programs" / "echo_server.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("at_once", [True, False])
def test_kill_restart_at_once_or_at_rollback_and_time_until_ready(
    tmp_path: Path, at_once: bool
) -> None:
    """With ``restart_at_once`` the server is back while the fault is still scheduled (the
    fault is no longer active before any rollback); without it, it stays down until the
    rollback restarts it. Either way the time from the kill to ready is measured."""
    ledger = Ledger(tmp_path / "state")
    port = _port()
    argv = [sys.executable, str(ECHO), str(port)]
    with ChildSupervisor(argv, ledger, tcp_ready(port), label="echo") as server:
        before = server.process()
        fault = KillFault(server, label="echo server", restart_at_once=at_once)
        with FaultGuard(ledger) as guard:
            guard.inject(fault)
            assert before is not None
            assert not before.alive()
            if at_once:
                assert wait_until(lambda: not fault.is_active(), 20.0)
                assert tcp_ready(port)()
                assert fault.restored_after_s is not None
            else:
                assert fault.is_active()
                assert not tcp_ready(port)()
                assert fault.restored_after_s is None
        (record,) = guard.records
        assert record.verified_gone
        assert tcp_ready(port)()
        after = server.process()
        assert after is not None
        assert after != before
        assert fault.restored_after_s is not None
        assert 0 < fault.restored_after_s < 20.0
    assert ledger.entries() == []


class _Service:
    """A restartable "service" (the protocol of harness.target.ServiceProcess) over the echo
    server's supervisor."""

    def __init__(self, server: ChildSupervisor, port: int) -> None:
        self.server, self.port = server, port

    @property
    def pid(self) -> int | None:
        ref = self.server.process()
        return None if ref is None else ref.pid

    def ready(self, timeout_s: float = 0.5) -> bool:
        return self.server.ready()

    def restart(self) -> None:
        self.server.restart()


def test_service_supervisor_kills_the_main_process_and_starts_it_again(tmp_path: Path) -> None:
    """ServiceSupervisor adapts a restartable service: the kill takes its main process, the
    restart brings a new one (ready), measured."""
    ledger = Ledger(tmp_path / "state")
    port = _port()
    argv = [sys.executable, str(ECHO), str(port)]
    with ChildSupervisor(argv, ledger, tcp_ready(port), label="echo") as server:
        service = _Service(server, port)
        old = service.pid
        fault = KillFault(
            ServiceSupervisor(service), label="the whole service", restart_at_once=True
        )
        with FaultGuard(ledger) as guard:
            guard.inject(fault)
        assert guard.records[0].verified_gone
        assert service.pid not in (None, old)
        assert fault.restored_after_s is not None


def test_kill_builders_pick_the_supervisor_by_scope() -> None:
    """``scope: service`` needs the job's restartable service (a FaultError naming it without);
    ``scope: worker`` needs ``restart: true`` and the two-worker environment; a service kill
    needs no environment."""
    ctx = FaultContext(target_url="http://127.0.0.1:1", service_pid=1, started_by_harness=True)
    with pytest.raises(FaultError, match="no restartable service"):
        FAULT_FACTORY.build(
            KillSpec(scope=KillScope.SERVICE), ctx.with_resource(SERVICE_PROCESS, 1)
        )
    with pytest.raises(FaultError, match=r"needs 'service\.process'"):
        FAULT_FACTORY.build(KillSpec(scope=KillScope.SERVICE), ctx)
    with pytest.raises(FaultError, match="restart: true"):
        FAULT_FACTORY.build(KillSpec(scope=KillScope.WORKER, restart=False), ctx)
    no_pid = FaultContext(target_url="http://127.0.0.1:1")
    with pytest.raises(FaultError, match="drop --target"):
        FAULT_FACTORY.build(KillSpec(scope=KillScope.SERVICE), no_pid)
