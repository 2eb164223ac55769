"""Faults behind one protocol (inject, check, roll back), the fault proxy, the cleanup journal and
game days. Nothing here imports Locust or gevent; network faults use :mod:`harness.netns`.

Importing this package registers the ledger undo handlers of the proxy's resources (proxy
processes, toxics, a proxy taken down), so a sweep in any process can remove them.
"""

from harness.chaos.fault import FakeFault, Fault, FaultState, UndoEntry
from harness.chaos.proxy import (
    ProxyClient,
    ProxyDownFault,
    ProxyHandle,
    ToxicFault,
    launch_proxy,
)

__all__ = [
    "FakeFault",
    "Fault",
    "FaultState",
    "ProxyClient",
    "ProxyDownFault",
    "ProxyHandle",
    "ToxicFault",
    "UndoEntry",
    "launch_proxy",
]
