"""Where a run's load generator and embedded service live: the host's network namespace (the
default), a two-host lab built for the run (``slo-harness run --lab``), or namespaces somebody
else built (the PCI lab runs the CI-gate load from the gateway's namespace into the scorer's).

How the two sides get there: the generator is this process. Its main thread enters the
generator's namespace (``setns``) for the whole measurement, so every socket Locust/gevent opens,
the readiness probe and any local worker process (children inherit the namespace) start from
there. The service is launched through ``ip netns exec <service ns>`` bound to its lab address;
nothing else changes in the load engine, which only sees a target URL in 198.18.0.0/15.

Why the lab has exactly two hosts: the load must cross a real veth/bridge path that faults
(:mod:`harness.chaos.network`) can act on, between two namespaces nothing else uses. A caller that
needs more hosts builds its own :class:`~harness.netns.Lab` and passes :meth:`Placement.named`.

Invariants: the lab is removed on every exit path (its ``close`` runs after the service stopped
and after this thread left the generator's namespace); orphaned lab namespaces of crashed runs
are swept from the ledger before a new lab is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from harness.ledger import Ledger, sweep
from harness.measure import NetworkPlacement
from harness.netns import NETNS_KIND, Host, Lab, Namespace

__all__ = ["GENERATOR", "SERVICE", "SERVICE_PORT", "Placement", "lab_placement"]

GENERATOR: Final = "gen"
SERVICE: Final = "svc"
#: The embedded service's port inside a lab: the namespace is the service's alone.
SERVICE_PORT: Final = 8080


@dataclass(frozen=True, slots=True)
class Placement:
    """The generator's namespace and, when the harness launches the service, the service's."""

    generator: Namespace
    service: Namespace | None = None  # None: the target is not launched by the harness
    service_address: str | None = None  # the service's lab address (with ``service``)
    service_port: int = SERVICE_PORT
    lab: str | None = None  # the lab (bridge) namespace, when the harness built it
    #: Both lab hosts (namespace, address, interface), for network faults between them:
    #: ``packet_loss(p.generator_host, p.service_host, 10)``. Set by :func:`lab_placement`.
    generator_host: Host | None = None
    service_host: Host | None = None

    @classmethod
    def named(
        cls,
        generator: str,
        service: str | None = None,
        service_address: str | None = None,
        service_port: int = SERVICE_PORT,
    ) -> Placement:
        """A placement into namespaces that already exist (built and removed by the caller)."""
        return cls(
            Namespace(generator),
            None if service is None else Namespace(service),
            service_address,
            service_port,
        )

    @property
    def service_bind(self) -> tuple[str, int] | None:
        """(address, port) for the launched service, or None when no service is launched here."""
        if self.service is None or self.service_address is None:
            return None
        return self.service_address, self.service_port

    def service_prefix(self) -> list[str]:
        """The argv prefix that starts a program in the service's namespace (empty: here)."""
        return [] if self.service is None else self.service.argv([])

    def record(self) -> NetworkPlacement:
        """What the report says about this placement."""
        return NetworkPlacement(
            generator_netns=self.generator.name,
            service_netns=None if self.service is None else self.service.name,
            lab=self.lab,
        )


@contextlib.contextmanager
def lab_placement(*, ledger: Ledger | None = None) -> Iterator[Placement]:
    """Build a two-host lab (``gen`` .1, ``svc`` .2) for the block; remove it afterwards."""
    ledger = ledger or Ledger()
    sweep(ledger, kinds=[NETNS_KIND])  # labs of crashed runs (owner gone)
    with Lab.create([GENERATOR, SERVICE], ledger=ledger) as lab:
        svc = lab.host(SERVICE)
        gen = lab.host(GENERATOR)
        yield Placement(
            generator=gen.namespace,
            service=svc.namespace,
            service_address=str(svc.address),
            lab=lab.namespace.name,
            generator_host=gen,
            service_host=svc,
        )
