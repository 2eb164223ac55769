"""A lab: one bridge namespace plus N member namespaces ("hosts"), sealed off from the host network.

Topology (``<p>`` = prefix + run id)::

    <p>            (lab namespace)   br0 ── v0 ── v1 ── ... ── v{N-1}       no addresses
                                      │      │
    <p>-<label0>   eth0 198.18.0.1/24 ┘      └ eth0 198.18.0.2/24  <p>-<label1>   ...

Each host's veth pair has its host end (renamed ``eth0``) inside the member namespace and its
bridge end inside the lab namespace, so no interface ever appears in the host's namespace and
nothing is forwarded to it. Addresses come from a subnet inside 198.18.0.0/15 (RFC 2544's
benchmarking range, never routed on the internet), the first host getting ``.1``. There is no
default route anywhere: a member can reach its lab peers (one connected /N route) and nothing
else (``ENETUNREACH``), which tests check.

Concurrent labs never collide: names carry a fresh run id, and identical subnets in two labs are
harmless (separate bridges, separate namespaces).

Crash safety: each namespace is written to the :class:`~harness.ledger.Ledger` (kind
``netns``) *before* it exists and released only after its removal was verified, so
``harness.ledger.sweep`` removes the lab of a SIGKILLed owner (the handler is registered in
:mod:`harness.netns.cleanup`). Removing a namespace removes its veth ends, nft tables and qdiscs
with it; members go before the bridge (newest first). :meth:`Lab.close` runs with SIGINT,
SIGTERM and SIGHUP held back (main thread), so a second Ctrl-C cannot cut a teardown short; the
signal is delivered right after.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from harness.errors import NetnsError, UsageError
from harness.ledger import Ledger, LedgerEntry
from harness.netns.capability import require
from harness.netns.namespace import Namespace, default_prefix, list_namespaces, new_run_id

__all__ = ["LAB_NETWORK", "NETNS_KIND", "Host", "Lab", "signals_deferred"]

#: Every lab address lies in here (RFC 2544 benchmarking range).
LAB_NETWORK: Final = ipaddress.IPv4Network("198.18.0.0/15")
#: The ledger kind of a namespace the harness created.
NETNS_KIND: Final = "netns"
_LABEL_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_BRIDGE: Final = "br0"
_IFNAME: Final = "eth0"
_RUN_ID_TRIES: Final = 8


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back for the block (main thread only); deliver them after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass(frozen=True, slots=True)
class Host:
    """A member namespace of a lab: its label, namespace, address and interface names."""

    label: str
    namespace: Namespace
    address: ipaddress.IPv4Address
    ifname: str  # the member's end, inside ``namespace``
    bridge_port: str  # the bridge's end, inside the lab namespace


def _check_subnet(subnet: str, count: int) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(subnet)
    except ValueError as exc:
        raise UsageError(f"lab subnet {subnet!r}: expected an IPv4 network ({exc})") from exc
    if not net.subnet_of(LAB_NETWORK):
        raise UsageError(f"lab subnet {subnet}: expected a network inside {LAB_NETWORK}")
    if count > net.num_addresses - 2:
        raise UsageError(f"lab subnet {subnet}: {count} hosts do not fit")
    return net


def _check_labels(labels: Sequence[str], room: int) -> None:
    if not labels:
        raise UsageError("a lab needs at least one host label")
    if len(set(labels)) != len(labels):
        raise UsageError(f"lab host labels must be unique: {list(labels)}")
    for label in labels:
        if not _LABEL_RE.fullmatch(label) or len(label) > room:
            raise UsageError(f"lab host label {label!r}: expected [a-z0-9-], 1-{room} chars")


class Lab:
    """A built lab; use :meth:`create` (or ``with Lab.create(...) as lab``), then :meth:`close`."""

    def __init__(self, run_id: str, prefix: str, subnet: ipaddress.IPv4Network, ledger: Ledger):
        self.run_id = run_id
        self.prefix = prefix
        self.subnet = subnet
        self.namespace = Namespace(f"{prefix}{run_id}")
        self.hosts: tuple[Host, ...] = ()
        self._ledger = ledger
        self._entries: list[tuple[Namespace, LedgerEntry]] = []
        self._closed = False

    @classmethod
    def create(
        cls,
        labels: Sequence[str],
        *,
        subnet: str = "198.18.0.0/24",
        ledger: Ledger | None = None,
        prefix: str | None = None,
    ) -> Lab:
        """Build the lab namespace, its bridge and one member per label (in order: ``.1``...)."""
        prefix = default_prefix() if prefix is None else prefix
        net = _check_subnet(subnet, len(labels))
        _check_labels(labels, 63 - len(prefix) - 7)
        require()
        lab = cls(_fresh_run_id(prefix), prefix, net, ledger or Ledger())
        try:
            lab._build(labels)
        except BaseException:
            lab.close()
            raise
        return lab

    # -- access -----------------------------------------------------------------------------

    def host(self, label: str) -> Host:
        """The member called ``label``."""
        for h in self.hosts:
            if h.label == label:
                return h
        raise UsageError(f"lab {self.namespace.name} has no host {label!r}")

    def namespaces(self) -> list[str]:
        """Every namespace of this lab still present (by name), for checks and reports."""
        own = self.namespace.name
        return [n for n in list_namespaces(own) if n == own or n.startswith(f"{own}-")]

    # -- building ---------------------------------------------------------------------------

    def _new_namespace(self, ns: Namespace) -> None:
        entry = self._ledger.record(NETNS_KIND, ns.name, {"name": ns.name})
        self._entries.append((ns, entry))
        ns.create()

    def _build(self, labels: Sequence[str]) -> None:
        self._new_namespace(self.namespace)
        with self.namespace.iproute() as ipr:
            ipr.link("add", ifname=_BRIDGE, kind="bridge")
            ipr.link("set", ifname=_BRIDGE, state="up")
        hosts = []
        for i, label in enumerate(labels):
            hosts.append(self._add_host(i, label))
            self.hosts = tuple(hosts)

    def _add_host(self, index: int, label: str) -> Host:
        member = Namespace(f"{self.namespace.name}-{label}")
        self._new_namespace(member)
        port = f"v{index}"
        with self.namespace.iproute() as ipr:
            ipr.link(
                "add", ifname=port, kind="veth", peer={"ifname": _IFNAME, "net_ns_fd": member.name}
            )
            bridge = ipr.link_lookup(ifname=_BRIDGE)[0]
            ipr.link("set", ifname=port, master=bridge, state="up")
        address = self.subnet.network_address + 1 + index
        with member.iproute() as ipr:
            idx = ipr.link_lookup(ifname=_IFNAME)[0]
            ipr.addr("add", index=idx, address=str(address), prefixlen=self.subnet.prefixlen)
            ipr.link("set", index=idx, state="up")
        return Host(label, member, address, _IFNAME, port)

    # -- teardown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Remove every namespace of the lab (members first), verify, release the ledger.

        Idempotent. Raises :class:`NetnsError` if something is left (its ledger entry stays, so
        the next sweep retries).
        """
        if self._closed:
            return
        failures: list[str] = []
        with signals_deferred():
            for ns, entry in reversed(self._entries):
                try:
                    ns.remove()
                except (NetnsError, OSError) as exc:  # keep going: remove everything else
                    failures.append(f"{ns.name}: {exc}")
                    continue
                self._ledger.release(entry)
            left = self.namespaces()
        self._closed = True
        if failures or left:
            raise NetnsError(f"lab {self.namespace.name} not fully removed: {failures or left}")

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _fresh_run_id(prefix: str) -> str:
    taken = set(list_namespaces(prefix))
    for _ in range(_RUN_ID_TRIES):
        run_id = new_run_id()
        if not any(n == f"{prefix}{run_id}" or n.startswith(f"{prefix}{run_id}-") for n in taken):
            return run_id
    raise NetnsError(f"no free lab run id under prefix {prefix!r}")
