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

Game days (:mod:`harness.chaos.gameday`): importing this package also registers every fault
kind's game-day builder (:data:`FAULT_FACTORY`: process and network kinds in ``builders``, the
proxy's in ``proxy_builders``) and their environments.
"""

from harness.chaos.builders import GENERATOR_HOST, LAB, SERVICE_HOST, SERVICE_PORT, SERVICE_PROCESS
from harness.chaos.cgroups import cgroup_mounts, freeze_supported
from harness.chaos.cleanup import (
    CleanupItem,
    CleanupReport,
    CleanupStatus,
    cleanup,
    render_cleanup,
    sweep_on_start,
)
from harness.chaos.factory import FAULT_FACTORY, FaultContext, FaultFactory, Stage
from harness.chaos.fault import FakeFault, Fault, UndoEntry
from harness.chaos.gameday import (
    AuditTrailDoc,
    GameDayController,
    Journal,
    LineView,
    LiveView,
    Outcome,
    Plan,
    RichView,
    ScheduledFault,
    StepDoc,
    StepGuard,
    build_journal,
    fill_gaps,
    make_plan,
    render_timeline,
    samples_from_intervals,
)
from harness.chaos.gameday.chaosmesh import export_chaos_mesh
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
from harness.chaos.process import KillFault, PauseFault, PauseMethod, Supervisor
from harness.chaos.procs import ProcessRef
from harness.chaos.proxy import (
    ProxyClient,
    ProxyDownFault,
    ProxyHandle,
    ToxicFault,
    launch_proxy,
)
from harness.chaos.proxy_builders import (
    FEATURE_STORE_PROXY,
    SERVICE_PROXY,
    register_proxy_builders,
)
from harness.chaos.stress import CpuHogFault, MemoryPressureFault, stress_ng_path
from harness.chaos.supervisor import ChildSupervisor, ServiceSupervisor, WorkerPool, tcp_ready
from harness.chaos.throttle import CpuThrottleFault, cpu_quota_interface

__all__ = [
    "FAULT_FACTORY",
    "FEATURE_STORE_PROXY",
    "GENERATOR_HOST",
    "LAB",
    "SERVICE_HOST",
    "SERVICE_PORT",
    "SERVICE_PROCESS",
    "SERVICE_PROXY",
    "AuditTrailDoc",
    "ChildSupervisor",
    "CleanupItem",
    "CleanupReport",
    "CleanupStatus",
    "CpuHogFault",
    "CpuThrottleFault",
    "Direction",
    "FakeFault",
    "Fault",
    "FaultContext",
    "FaultFactory",
    "FaultGuard",
    "FaultHandle",
    "GameDayController",
    "Journal",
    "KillFault",
    "LineView",
    "LiveView",
    "MemoryPressureFault",
    "NftFault",
    "Outcome",
    "PauseFault",
    "PauseMethod",
    "Plan",
    "ProcessRef",
    "ProxyClient",
    "ProxyDownFault",
    "ProxyHandle",
    "RichView",
    "RollbackRecord",
    "RollbackStatus",
    "ScheduledFault",
    "ServiceSupervisor",
    "Stage",
    "StepDoc",
    "StepGuard",
    "Supervisor",
    "TbfFault",
    "ToxicFault",
    "Trigger",
    "UndoEntry",
    "WorkerPool",
    "bandwidth_limit",
    "build_journal",
    "cgroup_mounts",
    "cleanup",
    "cpu_quota_interface",
    "export_chaos_mesh",
    "fill_gaps",
    "freeze_supported",
    "launch_proxy",
    "make_plan",
    "packet_loss",
    "partition",
    "refuse",
    "register_proxy_builders",
    "render_cleanup",
    "render_timeline",
    "samples_from_intervals",
    "stress_ng_path",
    "sweep_on_start",
    "tcp_ready",
]
