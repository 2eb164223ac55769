"""Placement: what a caller-built placement launches where, and what the report records."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from harness.chaos import packet_loss
from harness.ledger import Ledger
from harness.measure import NetworkPlacement
from harness.netns import list_namespaces
from harness.placement import Placement, lab_placement


def test_named_placement_launches_the_service_in_its_namespace() -> None:
    """Named namespaces: service bound to its lab address via `ip netns exec`, recorded as is."""
    placement = Placement.named("pci-gw", "pci-scorer", "198.18.0.9", 8443)
    assert placement.service_bind == ("198.18.0.9", 8443)
    assert placement.service_prefix() == ["ip", "netns", "exec", "pci-scorer"]
    assert placement.record() == NetworkPlacement("pci-gw", "pci-scorer", None)


def test_generator_only_placement_launches_nothing() -> None:
    """Only a generator namespace: no service bind, no prefix (the target URL names the service)."""
    placement = Placement.named("pci-gw")
    assert placement.service_bind is None
    assert placement.service_prefix() == []
    assert placement.record().service_netns is None


@pytest.mark.root
def test_lab_placement_builds_gen_and_svc_for_faults_and_removes_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """gen .1 / svc .2 hosts usable by network faults; the lab is gone after the block."""
    prefix = f"slotestp{secrets.token_hex(2)}-"
    monkeypatch.setenv("SLO_HARNESS_NETNS_PREFIX", prefix)
    ledger = Ledger(tmp_path / "state")
    with lab_placement(ledger=ledger) as placement:
        assert placement.generator_host is not None
        assert placement.service_host is not None
        assert str(placement.generator_host.address) == "198.18.0.1"
        assert placement.service_bind == ("198.18.0.2", 8080)
        assert placement.record().lab == placement.lab
        fault = packet_loss(placement.generator_host, placement.service_host, 10)
        fault.inject()
        assert fault.is_active()
        assert len(list_namespaces(prefix)) == 3
    assert not fault.is_active()  # went with the lab
    assert list_namespaces(prefix) == []
    assert ledger.entries() == []
