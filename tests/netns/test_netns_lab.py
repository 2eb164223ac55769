"""A lab: members reach each other over the bridge, nothing else, and every teardown path
(close, exception, Ctrl-C, SIGKILL + ledger sweep, prefix sweep) removes all of it."""

from __future__ import annotations

import errno
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from netns_support import connect_from, tcp_listener, timed_connect

import harness.netns
from harness.errors import NetnsError
from harness.ledger import Ledger, sweep
from harness.netns import Host, Lab, Namespace, list_namespaces, sweep_prefix

pytestmark = pytest.mark.root


def _host_links() -> set[str]:
    return set(psutil.net_if_addrs())


def test_lab_has_one_namespace_per_host_plus_bridge_and_no_default_route(prefix: str) -> None:
    """3 hosts -> 4 namespaces, .1-.3 on eth0, only the connected route, no host-side links."""
    before = _host_links()
    host_v6 = Path("/proc/sys/net/ipv6/conf/all/disable_ipv6").read_text().strip()
    with Lab.create(["a", "b", "c"]) as lab:
        assert len(lab.namespaces()) == 4
        assert [str(h.address) for h in lab.hosts] == ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
        for host in lab.hosts:
            routes = host.namespace.run(["ip", "-4", "route", "show", "table", "all"]).stdout
            assert "default" not in routes
            main = host.namespace.run(["ip", "-4", "route"]).stdout.strip().splitlines()
            assert main == [f"198.18.0.0/24 dev eth0 proto kernel scope link src {host.address}"]
            links = host.namespace.run(["ip", "-br", "link"]).stdout
            assert {line.split()[0].split("@")[0] for line in links.splitlines()} == {"lo", "eth0"}
        assert _host_links() == before, "a lab interface appeared in the host namespace"
        v6 = Path("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        with lab.host("a").namespace.entered():
            assert v6.read_text().strip() == "1"  # IPv6 off inside the lab...
        assert v6.read_text().strip() == host_v6  # ...and the host's setting untouched
    assert list_namespaces(prefix) == []


def test_members_connect_over_tcp(lab3: Lab) -> None:
    """a -> b and c -> b TCP connects succeed and carry bytes."""
    server = tcp_listener(lab3.host("b"))
    port = server.getsockname()[1]
    try:
        for label in ("a", "c"):
            client = connect_from(lab3.host(label), "198.18.0.2", port, timeout_s=2.0)
            conn, peer = server.accept()
            assert peer[0] == str(lab3.host(label).address)
            client.sendall(b"ping")
            assert conn.recv(4) == b"ping"
            conn.close()
            client.close()
    finally:
        server.close()


def test_nothing_outside_the_lab_is_reachable(lab3: Lab) -> None:
    """Host addresses, other lab ranges and TEST-NET: no route; host loopback: not shared."""
    host_addrs = [
        a.address
        for addrs in psutil.net_if_addrs().values()
        for a in addrs
        if a.family.name == "AF_INET" and not a.address.startswith("127.")
    ]
    outside = [*host_addrs, "198.19.255.254", "198.18.1.1", "192.0.2.1"]
    for address in outside:
        outcome, _ = timed_connect(lab3.host("a"), address, 9, timeout_s=1.0)
        assert outcome == f"errno {errno.ENETUNREACH}", (address, outcome)
    # A listener on the host's loopback is invisible from the lab's own loopback.
    host_server = socket.create_server(("127.0.0.1", 0))
    try:
        outcome, _ = timed_connect(lab3.host("a"), "127.0.0.1", host_server.getsockname()[1], 1.0)
        assert outcome == "refused"
    finally:
        host_server.close()


def test_close_removes_everything_and_releases_the_ledger(prefix: str, ledger: Ledger) -> None:
    """close(): namespaces gone (listed before/after), ledger empty, processes inside killed."""
    lab = Lab.create(["a", "b"], ledger=ledger)
    sleeper = lab.host("a").namespace.popen(["sleep", "60"])
    assert len(list_namespaces(prefix)) == 3
    assert len(ledger.entries()) == 3
    lab.close()
    lab.close()  # idempotent
    assert list_namespaces(prefix) == []
    assert ledger.entries() == []
    assert sleeper.wait(timeout=5) is not None


def test_exception_and_ctrl_c_inside_the_block_still_tear_down(prefix: str) -> None:
    """An exception or KeyboardInterrupt in a `with Lab` block leaves no namespace."""
    with pytest.raises(RuntimeError), Lab.create(["a"]):
        raise RuntimeError("boom")
    assert list_namespaces(prefix) == []
    with pytest.raises(KeyboardInterrupt), Lab.create(["a"]):
        raise KeyboardInterrupt
    assert list_namespaces(prefix) == []


def test_failed_build_removes_what_was_made(
    prefix: str, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that fails at the second host removes the namespaces made so far."""
    real_add = Lab._add_host

    def failing_add(self: Lab, index: int, label: str) -> Host:
        if index == 1:
            raise NetnsError("injected build failure")
        return real_add(self, index, label)

    monkeypatch.setattr(Lab, "_add_host", failing_add)
    with pytest.raises(NetnsError, match="injected"):
        Lab.create(["a", "b"], ledger=ledger)
    assert list_namespaces(prefix) == []
    assert ledger.entries() == []


_BUILDER = textwrap.dedent(
    """
    import sys, time
    from harness.netns import Lab
    lab = Lab.create(["a", "b", "c"])
    server = lab.host("b").namespace.popen(["sleep", "600"])
    print("ready", flush=True)
    time.sleep(600)
    """
)


def test_sigkilled_builder_lab_is_removed_by_the_ledger_sweep(prefix: str, ledger: Ledger) -> None:
    """SIGKILL of a process that built a lab leaves it; sweep() removes all of it."""
    with subprocess.Popen(
        [sys.executable, "-c", _BUILDER], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            assert len(list_namespaces(prefix)) == 4
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert len(list_namespaces(prefix)) == 4, "the lab should outlive its SIGKILLed owner"
    assert harness.netns.NETNS_KIND in {e.kind for e in ledger.orphans()}
    items = sweep(ledger)
    assert [i.status.value for i in items] == ["removed"] * 4
    assert list_namespaces(prefix) == []
    assert ledger.entries() == []


def test_prefix_sweep_removes_unledgered_namespaces_only_under_its_prefix(prefix: str) -> None:
    """sweep_prefix() removes `<prefix>*` without any ledger entry and nothing else."""
    mine = Namespace(f"{prefix}orphan")
    other = Namespace(f"x{prefix}keep")
    mine.create()
    other.create()
    try:
        assert sweep_prefix(prefix) == [mine.name]
        assert not mine.exists()
        assert other.exists()
    finally:
        other.remove()
        mine.remove()


def test_sigterm_during_teardown_is_held_until_it_finished(prefix: str, tmp_path: Path) -> None:
    """A SIGTERM arriving mid-close() is delivered only after every namespace is gone."""
    script = textwrap.dedent(
        """
        import os, signal, sys, threading
        from harness.netns import Lab, list_namespaces
        from harness.netns import namespace as nsmod
        lab = Lab.create(["a", "b", "c"])
        real_remove = nsmod.Namespace.remove
        def slow_remove(self):
            os.kill(os.getpid(), signal.SIGTERM)  # arrives while close() runs
            return real_remove(self)
        nsmod.Namespace.remove = slow_remove
        def on_term(signum, frame):
            print("left", len(list_namespaces(lab.prefix)), flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        lab.close()
        print("not interrupted", flush=True)
        """
    )
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "left 0", done.stderr
    assert time.monotonic() - start < 60
