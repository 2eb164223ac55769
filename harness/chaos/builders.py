"""Game-day builders for the process and network faults: fault spec -> :class:`Fault`.

Registered into :data:`harness.chaos.factory.FAULT_FACTORY` on import (the game-day job imports
this module; the proxy's kinds are in :mod:`harness.chaos.proxy_builders`).

- Process faults act on the embedded service (``FaultContext.service_pid``; with ``--target``
  the harness has no process to act on and says so): ``pause`` (SIGSTOP or cgroup freeze of the
  service and its workers), ``cpu_throttle`` (CFS quota of the service's cgroup), ``cpu_hog`` and
  ``memory`` (processes next to it), ``kill`` of one worker (the ``service.workers`` environment
  starts the service with two uvicorn workers, whose master restarts a killed one) or of the
  whole service (SIGKILL of its main process; the job publishes the restartable service as the
  ``service.process`` resource and the harness is its supervisor: with ``restart: true`` it
  starts it again at once, with ``restart: false`` the service stays down until the step's
  rollback starts it). Both kills measure the time until the target was ready again.
- The network faults (:mod:`harness.chaos.network`) act between the two hosts of the run's lab,
  so their kinds need the ``lab`` environment: the job provides it (generator and embedded
  service in their own namespaces, as ``slo-harness run --lab``) and publishes the hosts as the
  resources named here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

from harness import spec as specs
from harness.chaos.factory import FAULT_FACTORY, FaultContext, Stage
from harness.chaos.fault import Fault
from harness.chaos.network import (
    Direction,
    bandwidth_limit,
    packet_loss,
    partition,
    refuse,
)
from harness.chaos.process import KillFault, PauseFault, PauseMethod
from harness.chaos.procs import ProcessRef
from harness.chaos.stress import CpuHogFault, MemoryPressureFault
from harness.chaos.supervisor import ServiceSupervisor, WorkerPool
from harness.chaos.throttle import CpuThrottleFault
from harness.errors import FaultError
from harness.netns import Host
from harness.target import ServiceProcess

__all__ = [
    "GENERATOR_HOST",
    "LAB",
    "SERVICE_HOST",
    "SERVICE_PORT",
    "SERVICE_PROCESS",
    "SERVICE_WORKERS",
    "register_network_builders",
    "register_process_builders",
]

#: The environment network faults need, and the resources it publishes.
LAB: Final = "lab"
GENERATOR_HOST: Final = "lab.generator_host"
SERVICE_HOST: Final = "lab.service_host"
SERVICE_PORT: Final = "lab.service_port"
#: The environment of ``kill`` (scope worker): the embedded service with this many workers.
SERVICE_WORKERS: Final = "service.workers"
#: The resource ``kill`` (scope service) acts on: the restartable embedded service.
SERVICE_PROCESS: Final = "service.process"
_WORKERS: Final = 2


def _hosts(ctx: FaultContext, kind: str) -> tuple[Host, Host]:
    gen, svc = ctx.resource(GENERATOR_HOST, kind), ctx.resource(SERVICE_HOST, kind)
    if not isinstance(gen, Host) or not isinstance(svc, Host):
        raise FaultError(f"{kind}: the lab environment published no hosts")
    return gen, svc


def _network(spec: specs.FaultSpec, ctx: FaultContext) -> Fault:
    gen, svc = _hosts(ctx, spec.kind)
    if isinstance(spec, specs.PartitionFault):
        return partition(gen, svc, Direction.BOTH)
    if isinstance(spec, specs.RefuseFault):
        port = ctx.resource(SERVICE_PORT, spec.kind)
        if not isinstance(port, int):
            raise FaultError("refuse: the lab environment published no service port")
        return refuse(gen, svc, port)
    if isinstance(spec, specs.LossFault):
        return packet_loss(gen, svc, spec.percent, Direction.BOTH)
    if isinstance(spec, specs.NetworkBandwidthFault):
        return bandwidth_limit(gen, svc, round(spec.rate_kbit_s * 1000), Direction.BOTH)
    raise FaultError(f"{spec.kind}: not a network fault")


def register_network_builders() -> None:
    """Register partition, refuse, loss and network_bandwidth (idempotent)."""
    for kind in ("partition", "refuse", "loss", "network_bandwidth"):
        FAULT_FACTORY.register(kind, _network, environment=LAB)


def _service(ctx: FaultContext, kind: str) -> ProcessRef:
    if ctx.service_pid is None:
        raise FaultError(
            f"{kind}: acts on the service's process, which only exists here when the harness "
            "starts the service (drop --target)"
        )
    return ProcessRef.of(ctx.service_pid)


def _process(spec: specs.FaultSpec, ctx: FaultContext) -> Fault:
    if isinstance(spec, specs.PauseFault):
        return PauseFault(_service(ctx, spec.kind), PauseMethod(spec.method.value))
    if isinstance(spec, specs.CpuThrottleFault):
        return CpuThrottleFault(_service(ctx, spec.kind), cpus=spec.cpu_percent / 100.0)
    if isinstance(spec, specs.CpuHogFault):
        return CpuHogFault(workers=spec.workers, load_pct=round(spec.load_percent))
    if isinstance(spec, specs.MemoryFault):
        return MemoryPressureFault(size_bytes=spec.size_mb * 1024 * 1024)
    if isinstance(spec, specs.KillFault):
        return _kill(spec, ctx)
    raise FaultError(f"{spec.kind}: not a process fault")


def _kill(spec: specs.KillFault, ctx: FaultContext) -> Fault:
    if spec.scope is specs.KillScope.SERVICE:
        _service(ctx, spec.kind)  # the harness must have started it
        service = ctx.resource(SERVICE_PROCESS, spec.kind)
        if not isinstance(service, ServiceProcess):
            raise FaultError("kill: the job published no restartable service")
        return KillFault(
            ServiceSupervisor(service), label="the whole service", restart_at_once=spec.restart
        )
    if not spec.restart:
        raise FaultError(
            "kill: `scope: worker` needs `restart: true` (the service's uvicorn master restarts "
            "a killed worker; it cannot be told not to)"
        )
    pool = WorkerPool(_service(ctx, spec.kind), workers=_WORKERS)
    return KillFault(pool, label="service worker", restart_at_once=True)


def _kill_environment(spec: specs.FaultSpec) -> str | None:
    """A worker kill needs the service with workers; a service kill needs nothing more."""
    if isinstance(spec, specs.KillFault) and spec.scope is specs.KillScope.SERVICE:
        return None
    return SERVICE_WORKERS


@contextlib.contextmanager
def _two_workers(ctx: FaultContext) -> Iterator[FaultContext]:
    """The embedded service with two workers (the last --workers on its command line wins)."""
    if ctx.target_url is not None:
        raise FaultError("kill: needs the harness to start the service (drop --target)")
    yield FaultContext(
        target_url=None,
        service_pid=ctx.service_pid,
        started_by_harness=True,
        service_args=(*ctx.service_args, "--workers", str(_WORKERS)),
        resources=ctx.resources,
    )


def register_process_builders() -> None:
    """Register pause, kill, cpu_throttle, cpu_hog and memory (idempotent)."""
    for kind in ("pause", "cpu_throttle", "cpu_hog", "memory"):
        FAULT_FACTORY.register(kind, _process)
    FAULT_FACTORY.register("kill", _process, environment=_kill_environment)
    FAULT_FACTORY.register_environment(SERVICE_WORKERS, Stage.BEFORE_SERVICE, _two_workers)


register_network_builders()
register_process_builders()
