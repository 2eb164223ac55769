"""Game-day builders for the faults of this package: fault spec -> :class:`Fault`.

Registered into :data:`harness.chaos.factory.FAULT_FACTORY` on import (the game-day job imports
this module). The network faults (:mod:`harness.chaos.network`) act between the two hosts of
the run's lab, so their kinds need the ``lab`` environment: the job provides it (generator and
embedded service in their own namespaces, as ``slo-harness run --lab``) and publishes the hosts
as the resources named here.
"""

from __future__ import annotations

from typing import Final

from harness.chaos.factory import FAULT_FACTORY, FaultContext
from harness.chaos.fault import Fault
from harness.chaos.network import (
    Direction,
    bandwidth_limit,
    packet_loss,
    partition,
    refuse,
)
from harness.errors import FaultError
from harness.netns import Host
from harness.spec.faults import (
    FaultSpec,
    LossFault,
    NetworkBandwidthFault,
    PartitionFault,
    RefuseFault,
)

__all__ = ["GENERATOR_HOST", "LAB", "SERVICE_HOST", "SERVICE_PORT", "register_network_builders"]

#: The environment network faults need, and the resources it publishes.
LAB: Final = "lab"
GENERATOR_HOST: Final = "lab.generator_host"
SERVICE_HOST: Final = "lab.service_host"
SERVICE_PORT: Final = "lab.service_port"


def _hosts(ctx: FaultContext, kind: str) -> tuple[Host, Host]:
    gen, svc = ctx.resource(GENERATOR_HOST, kind), ctx.resource(SERVICE_HOST, kind)
    if not isinstance(gen, Host) or not isinstance(svc, Host):
        raise FaultError(f"{kind}: the lab environment published no hosts")
    return gen, svc


def _network(spec: FaultSpec, ctx: FaultContext) -> Fault:
    gen, svc = _hosts(ctx, spec.kind)
    if isinstance(spec, PartitionFault):
        return partition(gen, svc, Direction.BOTH)
    if isinstance(spec, RefuseFault):
        port = ctx.resource(SERVICE_PORT, spec.kind)
        if not isinstance(port, int):
            raise FaultError("refuse: the lab environment published no service port")
        return refuse(gen, svc, port)
    if isinstance(spec, LossFault):
        return packet_loss(gen, svc, spec.percent, Direction.BOTH)
    if isinstance(spec, NetworkBandwidthFault):
        return bandwidth_limit(gen, svc, round(spec.rate_kbit_s * 1000), Direction.BOTH)
    raise FaultError(f"{spec.kind}: not a network fault")


def register_network_builders() -> None:
    """Register partition, refuse, loss and network_bandwidth (idempotent)."""
    for kind in ("partition", "refuse", "loss", "network_bandwidth"):
        FAULT_FACTORY.register(kind, _network, environment=LAB)


register_network_builders()
