"""Faults behind one protocol (inject, check, roll back), the rollback guard and the kill switch.

- :class:`FaultGuard` injects faults with a ledger entry first and rolls them back on every way
  out (end, exception, failed load, SIGINT/SIGTERM/SIGHUP, abort, schedule), verified, with one
  :class:`RollbackRecord` per fault for the game-day journal.
- Process faults: :class:`PauseFault` (SIGSTOP or cgroup v2 freeze), :class:`KillFault` (kill -9
  with a supervised restart), :class:`CpuThrottleFault` (CFS quota, cgroup v2 or v1),
  :class:`CpuHogFault` (stress-ng or a busy loop), :class:`MemoryPressureFault`.
- Network faults (:mod:`harness.chaos.network`): partition, refuse, packet loss (nft) and a
  bandwidth limit (tc tbf) inside the lab namespaces of :mod:`harness.netns`.
- The fault proxy (:mod:`harness.chaos.proxy`): Toxiproxy-style toxics and HTTP faults.
- :func:`cleanup` / :func:`sweep_on_start`: undo what a dead harness left (the kill switch).

Importing this package registers the ledger undo handlers of every fault kind (the process
faults' ``chaos.*``, the network faults' ``fault.nft`` / ``fault.tc`` and, through
:mod:`harness.netns`, lab namespaces' ``netns``; the fault proxy's ``chaos.proxy_process``,
``chaos.proxy_toxic``, ``chaos.proxy_down``), so a sweep in any process can remove them. Nothing
here imports Locust or gevent.
"""

from harness.chaos.cgroups import cgroup_mounts, freeze_supported
from harness.chaos.cleanup import (
    CleanupItem,
    CleanupReport,
    CleanupStatus,
    cleanup,
    render_cleanup,
    sweep_on_start,
)
from harness.chaos.fault import FakeFault, Fault, FaultState, UndoEntry
from harness.chaos.guard import FaultGuard, FaultHandle, RollbackRecord, RollbackStatus, Trigger
from harness.chaos.network import (
    Direction,
    NftFault,
    TbfFault,
    bandwidth_limit,
    packet_loss,
    partition,
    refuse,
)
from harness.chaos.process import KillFault, PauseFault, PauseMethod, Supervisor, pause_methods
from harness.chaos.procs import ProcessRef
from harness.chaos.proxy import (
    ProxyClient,
    ProxyDownFault,
    ProxyHandle,
    ToxicFault,
    launch_proxy,
)
from harness.chaos.stress import CpuHogFault, MemoryPressureFault, stress_ng_path
from harness.chaos.supervisor import ChildSupervisor, WorkerPool, tcp_ready
from harness.chaos.throttle import CpuThrottleFault, cpu_quota_interface

__all__ = [
    "ChildSupervisor",
    "CleanupItem",
    "CleanupReport",
    "CleanupStatus",
    "CpuHogFault",
    "CpuThrottleFault",
    "Direction",
    "FakeFault",
    "Fault",
    "FaultGuard",
    "FaultHandle",
    "FaultState",
    "KillFault",
    "MemoryPressureFault",
    "NftFault",
    "PauseFault",
    "PauseMethod",
    "ProcessRef",
    "ProxyClient",
    "ProxyDownFault",
    "ProxyHandle",
    "RollbackRecord",
    "RollbackStatus",
    "Supervisor",
    "TbfFault",
    "ToxicFault",
    "Trigger",
    "UndoEntry",
    "WorkerPool",
    "bandwidth_limit",
    "cgroup_mounts",
    "cleanup",
    "cpu_quota_interface",
    "freeze_supported",
    "launch_proxy",
    "packet_loss",
    "partition",
    "pause_methods",
    "refuse",
    "render_cleanup",
    "stress_ng_path",
    "sweep_on_start",
    "tcp_ready",
]
