"""Network faults in a lab, measured with the harness's HDR core: 10% loss shows as retransmission
latency, a partition as timeouts, a refusal as fast errors, a bandwidth limit as transfer time;
each keeps the Fault contract and comes off, also after its injector was SIGKILLed."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from net_support import echo_service, measure

from harness.chaos import Fault, bandwidth_limit, packet_loss, partition, refuse
from harness.ledger import Ledger, sweep
from harness.netns import Lab, Need, lab_support, list_namespaces, list_tables, root_qdisc

_CAPS = lab_support(Need.NFT, Need.TC)
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not _CAPS.ok, reason=_CAPS.reason or "lab supported"),
]

#: The minimum TCP retransmission timeout is 200 ms; a request slower than this was retransmitted.
_RETRANSMITTED_US = 150_000


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Lab]:
    """A two-host lab (gen .1, svc .2) under a unique prefix and a tmp state dir."""
    prefix = f"slotestf{secrets.token_hex(2)}-"
    monkeypatch.setenv("SLO_HARNESS_NETNS_PREFIX", prefix)
    monkeypatch.setenv("SLO_HARNESS_STATE_DIR", str(tmp_path / "state"))
    with Lab.create(["gen", "svc"]) as built:
        yield built
    assert list_namespaces(prefix) == []


def _faults(lab: Lab, port: int) -> list[Fault]:
    gen, svc = lab.host("gen"), lab.host("svc")
    return [
        partition(gen, svc),
        refuse(gen, svc, port),
        packet_loss(gen, svc, 10),
        bandwidth_limit(gen, svc, 1_000_000),
    ]


def test_each_fault_keeps_the_contract_and_is_active_reads_the_kernel(lab: Lab) -> None:
    """undo entry first; inject -> active (table/qdisc listed); removed behind its back ->
    inactive; rollback twice -> inactive, kernel clean."""
    svc = lab.host("svc")
    for fault in _faults(lab, 8080):
        assert isinstance(fault, Fault)
        entry = fault.undo_entry()
        assert entry.kind in ("fault.nft", "fault.tc")
        assert not fault.is_active()
        fault.inject()
        assert fault.is_active(), fault.name
        if entry.kind == "fault.nft":
            assert [t.name for t in list_tables(svc.namespace)] == [entry.undo["table"]]
            svc.namespace.run(["nft", "delete", "table", "inet", str(entry.undo["table"])])
            assert not fault.is_active(), "is_active must observe the kernel, not a flag"
        else:
            for ns_name, ifname in entry.undo["interfaces"]:  # type: ignore[attr-defined]
                host = next(h for h in lab.hosts if h.namespace.name == ns_name)
                qdisc = root_qdisc(host.namespace, ifname)
                assert qdisc is not None
                assert (qdisc.kind, qdisc.rate_bytes_s) == ("tbf", 125_000)
        fault.rollback()
        fault.rollback()
        assert not fault.is_active()
        assert list_tables(svc.namespace) == []
        assert all(root_qdisc(h.namespace, h.ifname).is_default for h in lab.hosts)  # type: ignore[union-attr]


def test_ten_percent_loss_shows_as_retransmission_latency(lab: Lab) -> None:
    """200 keep-alive requests: none retransmitted without the fault; with 10% loss per packet
    and direction, about 19% (1 - 0.9^2) take >= one RTO; 8-32% accepted, none fail."""
    gen, svc = lab.host("gen"), lab.host("svc")
    with echo_service(svc) as port:
        clean = measure(gen, svc, port, requests=200, timeout_s=5.0)
        fault = packet_loss(gen, svc, 10)
        fault.inject()
        try:
            lossy = measure(gen, svc, port, requests=200, timeout_s=5.0)
        finally:
            fault.rollback()
    slow_clean = clean.ok - clean.latencies.count_at_or_below(_RETRANSMITTED_US)
    slow_lossy = lossy.ok - lossy.latencies.count_at_or_below(_RETRANSMITTED_US)
    assert (clean.ok, lossy.ok) == (200, 200), (clean.failures, lossy.failures)
    assert slow_clean <= 2
    assert 16 <= slow_lossy <= 64, f"{slow_lossy}/200 retransmitted"
    assert lossy.latencies.percentile_ms(99) >= 200.0
    assert lossy.latencies.percentile_ms(50) < 50.0  # most requests are untouched


def test_partition_times_out_and_refuse_fails_fast(lab: Lab) -> None:
    """Partition: every request times out (0.5 s each); refuse: resets/refusals in < 0.25 s."""
    gen, svc = lab.host("gen"), lab.host("svc")
    with echo_service(svc) as port:
        cut = partition(gen, svc)
        cut.inject()
        try:
            parted = measure(gen, svc, port, requests=4, timeout_s=0.5)
        finally:
            cut.rollback()
        assert measure(gen, svc, port, requests=5, timeout_s=2.0).ok == 5  # healed
        wall = refuse(gen, svc, port)
        wall.inject()
        try:
            refused = measure(gen, svc, port, requests=10, timeout_s=2.0)
        finally:
            wall.rollback()
    assert parted.ok == 0
    assert parted.failures == {"timeout": 4}
    assert min(parted.failure_s) >= 0.45
    assert refused.ok == 0
    assert set(refused.failures) <= {"refused", "reset"}
    assert refused.failures["refused"] >= 5
    assert max(refused.failure_s) < 0.25


def test_bandwidth_limit_stretches_large_requests_to_the_rate(lab: Lab) -> None:
    """100 KB requests: a few ms unlimited; at 8 Mbit/s (1 MB/s) about 100 ms each (80-160)."""
    gen, svc = lab.host("gen"), lab.host("svc")
    with echo_service(svc) as port:
        free = measure(gen, svc, port, requests=10, timeout_s=5.0, request_bytes=100_000)
        limit = bandwidth_limit(gen, svc, 8_000_000)
        limit.inject()
        try:
            shaped = measure(gen, svc, port, requests=10, timeout_s=5.0, request_bytes=100_000)
        finally:
            limit.rollback()
    assert (free.ok, shaped.ok) == (10, 10)
    assert free.latencies.percentile_ms(50) < 20.0
    assert 80.0 <= shaped.latencies.percentile_ms(50) <= 160.0


_INJECTOR = textwrap.dedent(
    """
    import ipaddress, sys, time
    from harness.chaos import bandwidth_limit, packet_loss
    from harness.ledger import Ledger
    from harness.netns import Host, Namespace
    gen, svc = (Host(l, Namespace(n), ipaddress.IPv4Address(a), "eth0", "")
                for l, n, a in (sys.argv[1:4], sys.argv[4:7]))
    ledger = Ledger()
    for fault in (packet_loss(gen, svc, 50), bandwidth_limit(gen, svc, 2_000_000)):
        e = fault.undo_entry()
        ledger.record(e.kind, e.key, e.undo)  # before the fault exists
        fault.inject()
    print("injected", flush=True)
    time.sleep(600)
    """
)


def test_faults_of_a_sigkilled_injector_are_removed_by_the_sweep(lab: Lab, tmp_path: Path) -> None:
    """SIGKILL after injecting loss + tbf leaves both in the kernel; sweep() removes both."""
    gen, svc = lab.host("gen"), lab.host("svc")
    args = [str(x) for h in (gen, svc) for x in (h.label, h.namespace.name, h.address)]
    with subprocess.Popen(
        [sys.executable, "-c", _INJECTOR, *args], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "injected"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert len(list_tables(svc.namespace)) == 1
    assert root_qdisc(svc.namespace, "eth0").kind == "tbf"  # type: ignore[union-attr]
    items = sweep(Ledger(tmp_path / "state"), kinds=["fault.nft", "fault.tc"])
    assert sorted(i.status.value for i in items) == ["removed", "removed"]
    assert list_tables(svc.namespace) == []
    assert root_qdisc(svc.namespace, "eth0").is_default  # type: ignore[union-attr]
    assert root_qdisc(gen.namespace, "eth0").is_default  # type: ignore[union-attr]


def test_rollback_after_the_lab_is_gone_is_a_no_op(lab: Lab) -> None:
    """A fault whose namespace vanished (lab closed) rolls back quietly and reads inactive."""
    gen, svc = lab.host("gen"), lab.host("svc")
    loss, limit = packet_loss(gen, svc, 5), bandwidth_limit(gen, svc, 1_000_000)
    loss.inject()
    limit.inject()
    lab.close()
    for fault in (loss, limit):
        fault.rollback()
        assert not fault.is_active()
