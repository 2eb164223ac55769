"""Placement: what a caller-built placement launches where, and what the report records."""

from __future__ import annotations

from harness.measure import NetworkPlacement
from harness.placement import Placement


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
