"""What each network fault will apply, checked without root: chains, rules, undo entries."""

from __future__ import annotations

import ipaddress

import pytest

from harness.chaos import Direction, bandwidth_limit, packet_loss, partition, refuse
from harness.errors import UsageError
from harness.netns import Host, Namespace

GEN = Host("gen", Namespace("sloh-abc123-gen"), ipaddress.IPv4Address("198.18.0.1"), "eth0", "v0")
SVC = Host("svc", Namespace("sloh-abc123-svc"), ipaddress.IPv4Address("198.18.0.2"), "eth0", "v1")


def test_partition_drops_both_directions_in_the_server_namespace() -> None:
    """Input drops the client's packets, output drops packets to it; ahead of priority 0."""
    fault = partition(GEN, SVC)
    script = fault.script()
    assert fault.namespace == SVC.namespace
    assert "hook input priority -10" in script
    assert "ip saddr 198.18.0.1 drop" in script
    assert "hook output priority -10" in script
    assert "ip daddr 198.18.0.1 drop" in script
    only_to = partition(GEN, SVC, Direction.TO_SERVER).script()
    assert "hook output" not in only_to


def test_refuse_resets_tcp_to_the_service_port_only() -> None:
    """One input rule: the client's TCP to svc:8080 gets a reset."""
    script = refuse(GEN, SVC, 8080).script()
    assert "ip saddr 198.18.0.1 ip daddr 198.18.0.2 tcp dport 8080 reject with tcp reset" in script
    assert "hook output" not in script


def test_loss_and_bandwidth_validate_and_name_their_undo() -> None:
    """Loss renders numgen per direction; tbf's undo lists the interfaces; bad % is refused."""
    loss = packet_loss(GEN, SVC, 10, Direction.FROM_SERVER)
    assert "ip daddr 198.18.0.1 numgen random mod 100 < 10 drop" in loss.script()
    entry = loss.undo_entry()
    assert entry.kind == "fault.nft"
    assert entry.undo["netns"] == "sloh-abc123-svc"
    assert str(entry.undo["table"]).startswith("slo_loss_")
    assert packet_loss(GEN, SVC, 10).table != packet_loss(GEN, SVC, 10).table  # fresh names
    limit = bandwidth_limit(GEN, SVC, 2_000_000, Direction.FROM_SERVER).undo_entry()
    assert limit.kind == "fault.tc"
    assert limit.undo == {"interfaces": [["sloh-abc123-svc", "eth0"]]}
    with pytest.raises(UsageError):
        packet_loss(GEN, SVC, 0)
