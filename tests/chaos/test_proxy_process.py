"""The proxy process: launcher, ledger, dying with its parent, the loopback-only control API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from proxy_support import exchange, get, http_target, split

from harness.chaos.proxy import (
    PROXY_PROCESS_KIND,
    Protocol,
    ProxyClient,
    ProxyDownFault,
    ProxyUnreachable,
    http_fault_toxic,
    launch_proxy,
)
from harness.chaos.proxy.control import serve_control
from harness.chaos.proxy.runtime import ProxyRegistry
from harness.errors import ProxyError
from harness.ledger import Ledger, UndoStatus, sweep
from harness.load.http import HttpConnection

REPO = Path(__file__).resolve().parents[2]


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.05)
    return False


def test_launch_records_the_process_and_always_stops_it(tmp_path: Path) -> None:
    """While running, the ledger holds its entry; after the block, process and entry are gone."""
    ledger = Ledger(tmp_path)
    with (
        http_target() as target,
        launch_proxy(f"http://{target[0]}:{target[1]}", ledger=ledger) as h,
    ):
        (entry,) = ledger.entries()
        assert entry.kind == PROXY_PROCESS_KIND
        assert entry.undo == {"instance_id": h.instance_id}
        assert h.client.version().startswith("slo-harness-proxy")
        with HttpConnection(*split(h.listen["target"])) as conn:
            assert exchange(conn, get()).status == 200
        pid = h.pid
    assert _wait_gone(pid, 5.0)
    assert ledger.entries() == []


def test_launch_failure_leaves_nothing(tmp_path: Path) -> None:
    """A proxy that cannot bind exits 2; the launcher raises ProxyError with its message."""
    ledger = Ledger(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with (
            pytest.raises(ProxyError, match="cannot listen"),
            launch_proxy("127.0.0.1:9", listen=f"127.0.0.1:{port}", ledger=ledger),
        ):
            pass
    assert ledger.entries() == []


def test_control_api_refuses_a_non_loopback_bind() -> None:
    """serve_control and the process refuse 0.0.0.0 / lab addresses: one line, exit 2."""
    with pytest.raises(ProxyError, match="only loopback"):
        serve_control(ProxyRegistry(0), "0.0.0.0", 0)
    with pytest.raises(ProxyError, match="only loopback"):
        serve_control(ProxyRegistry(0), "198.18.0.1", 0)
    result = subprocess.run(
        [sys.executable, "-m", "harness.chaos.proxy", "--control", "0.0.0.0:0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "only loopback" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_client_refuses_a_non_loopback_control_url() -> None:
    """A control URL off loopback (e.g. from a tampered ledger entry) is refused."""
    with pytest.raises(ProxyError, match="loopback only"):
        ProxyClient("http://10.1.2.3:8474")


def test_control_api_errors(tmp_path: Path) -> None:
    """Bad proxies are 400 naming the field, duplicates 409, unknown names 404."""
    with launch_proxy("127.0.0.1:9", protocol=Protocol.TCP, ledger=Ledger(tmp_path)) as h:
        client = h.client
        with pytest.raises(ProxyError, match=r"\$\.listen: 10\.0\.0\.1: refused"):
            client.create_proxy("x", "127.0.0.1:9", listen="10.0.0.1:0")
        with pytest.raises(ProxyError, match="exists"):
            client.create_proxy("target", "127.0.0.1:9")
        with pytest.raises(ProxyError, match="no proxy"):
            client.stats("nope")
        with pytest.raises(ProxyError, match="needs a proxy with protocol 'http'"):
            client._call("POST", "/proxies/target/toxics", {"type": "http", "stream": "upstream"})
        created = client.create_proxy("extra", "127.0.0.1:9")
        assert created["listen"].startswith("127.0.0.1:")
        assert set(client.proxies()) == {"target", "extra"}
        client.delete_proxy("extra")
        assert set(client.proxies()) == {"target"}


def test_proxy_down_closes_connections_and_up_restores_the_port(tmp_path: Path) -> None:
    """ProxyDownFault: open connections are closed and new ones refused; rollback listens again."""
    with (
        http_target() as target,
        launch_proxy(f"{target[0]}:{target[1]}", ledger=Ledger(tmp_path)) as h,
    ):
        address = split(h.listen["target"])
        fault = ProxyDownFault(h.control_url, "target")
        with socket.create_connection(address, timeout=5.0) as sock:
            sock.sendall(get())
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            fault.inject()
            assert fault.is_active()
            assert sock.recv(100) == b""  # the open connection was closed
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(address, timeout=2.0).close()
        fault.rollback()
        fault.rollback()
        assert not fault.is_active()
        with HttpConnection(*address) as conn:
            assert exchange(conn, get()).status == 200


PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from harness.chaos.proxy import launch_proxy
    from harness.ledger import Ledger
    with launch_proxy("127.0.0.1:9", ledger=Ledger(Path(sys.argv[1]))) as h:
        print(h.pid, flush=True)
        time.sleep(60)
    """
)


def test_proxy_dies_with_its_sigkilled_parent_and_the_sweep_finds_it_gone(tmp_path: Path) -> None:
    """SIGKILL of the launching process: the proxy exits by itself; the orphan entry sweeps."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=REPO,
        text=True,
    )
    try:
        assert parent.stdout is not None
        proxy_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(proxy_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        assert _wait_gone(proxy_pid, 5.0)
    finally:
        parent.kill()
        parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()
    ledger = Ledger(tmp_path)
    (item,) = sweep(ledger)
    assert item.status is UndoStatus.ALREADY_GONE
    assert ledger.entries() == []


def test_sweep_kills_a_leftover_proxy(tmp_path: Path) -> None:
    """The undo handler finds a proxy by its instance id and kills it (the kill switch)."""
    ledger = Ledger(tmp_path)
    instance_id = "leftover" + str(os.getpid())
    ledger.record(PROXY_PROCESS_KIND, "leftover proxy", {"instance_id": instance_id})
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.chaos.proxy", "--instance-id", instance_id],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(b"{")
        (item,) = sweep(ledger, everything=True)
        assert item.status is UndoStatus.REMOVED
        proc.wait(timeout=10)  # psutil reaped it already (so no exit status to check here)
        assert not psutil.pid_exists(proc.pid)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert ledger.entries() == []


def test_unreachable_proxy_is_reported_as_such() -> None:
    """A control URL where nothing listens raises ProxyUnreachable (a ProxyError)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        ProxyClient(f"http://127.0.0.1:{port}", timeout_s=1.0) as client,
        pytest.raises(ProxyUnreachable),
    ):
        client.proxies()


def _abort_pattern(tmp_path: Path, seed: int) -> list[int]:
    with (
        http_target() as target,
        launch_proxy(f"{target[0]}:{target[1]}", seed=seed, ledger=Ledger(tmp_path)) as h,
    ):
        h.client.add_toxic("target", http_fault_toxic(error_rate=0.3, error_code=503))
        with HttpConnection(*split(h.listen["target"])) as conn:
            return [exchange(conn, get()).status for _ in range(100)]


def test_a_seed_reproduces_the_decisions(tmp_path: Path) -> None:
    """Same seed, same per-request abort decisions in a fresh proxy; another seed differs."""
    first = _abort_pattern(tmp_path, seed=11)
    assert 10 <= first.count(503) <= 50
    assert _abort_pattern(tmp_path, seed=11) == first
    assert _abort_pattern(tmp_path, seed=12) != first
