"""Faults behind one protocol (inject, check, roll back), the fault proxy, the cleanup journal and
game days. Nothing here imports Locust or gevent; network faults use :mod:`harness.netns`.

Importing :mod:`harness.chaos.network` (done here) registers the ledger undo handlers of the
network faults (``fault.nft``, ``fault.tc``) and, through :mod:`harness.netns`, of lab
namespaces (``netns``).
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

__all__ = [
    "Direction",
    "FakeFault",
    "Fault",
    "FaultState",
    "NftFault",
    "TbfFault",
    "UndoEntry",
    "bandwidth_limit",
    "packet_loss",
    "partition",
    "refuse",
]
