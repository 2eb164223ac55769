"""Faults behind one protocol (inject, check, roll back), the fault proxy, the cleanup journal and
game days. Nothing here imports Locust or gevent; network faults use :mod:`harness.netns`.

Importing this package registers the ledger undo handlers of its faults: the network faults
(``fault.nft``, ``fault.tc``; and, through :mod:`harness.netns`, lab namespaces, ``netns``) and
the fault proxy's resources (``chaos.proxy_process``, ``chaos.proxy_toxic``,
``chaos.proxy_down``), so a sweep in any process can remove them.
"""

from harness.chaos.fault import FakeFault, Fault, FaultState, UndoEntry
from harness.chaos.network import (
    Direction,
    NftFault,
    TbfFault,
    bandwidth_limit,
    packet_loss,
    partition,
    refuse,
)
from harness.chaos.proxy import (
    ProxyClient,
    ProxyDownFault,
    ProxyHandle,
    ToxicFault,
    launch_proxy,
)

__all__ = [
    "Direction",
    "FakeFault",
    "Fault",
    "FaultState",
    "NftFault",
    "ProxyClient",
    "ProxyDownFault",
    "ProxyHandle",
    "TbfFault",
    "ToxicFault",
    "UndoEntry",
    "bandwidth_limit",
    "launch_proxy",
    "packet_loss",
    "partition",
    "refuse",
]
