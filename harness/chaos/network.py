"""Network faults between two lab hosts (a client, e.g. the load generator, and a server, e.g. the
scoring service): partition, refuse, packet loss, bandwidth limit.

Why kernel mechanisms and not the fault proxy: these faults must act on packets the service
really sends and receives (a retransmission, a reset from the kernel, a full socket buffer),
which a proxy in front of the service cannot produce. This kernel has no ``netem``, so delay and
jitter stay with the proxy; what it has is nftables inside namespaces and tc tbf
(REFERENCE.md, "This machine").

How each is built (all inside lab namespaces from :mod:`harness.netns`, never the host's):

- **partition**: nft ``drop`` of the client's packets in the server's namespace (input hook
  and/or output hook by :class:`Direction`): both sides see timeouts, never an error.
- **refuse**: nft ``reject with tcp reset`` of the client's TCP packets to the server's port:
  a new connection fails at once with ECONNREFUSED, an open one with ECONNRESET.
- **loss**: nft ``numgen random mod 100 < N drop`` per packet, per direction; TCP turns it into
  retransmission latency (RTO >= 200 ms, tail-loss probes sooner), so a request sees more than
  N% trouble: it needs several packets.
- **bandwidth**: tc tbf on the egress of the client's ``eth0`` (requests) and/or the server's
  (responses). tbf shapes the whole interface: in a lab where the server talks to other hosts
  too, they share the limit.

Every fault keeps the :class:`~harness.chaos.fault.Fault` contract: ``undo_entry()`` is known
before injection (nft faults own a table with a fresh name, ``slo_<kind>_<hex>``), ``is_active``
lists the namespace's nft tables or reads the root qdisc from the kernel, ``rollback`` is
idempotent and treats a vanished namespace as rolled back. Undo handlers for the ledger kinds
``fault.nft`` and ``fault.tc`` are registered on import.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from harness.chaos.fault import UndoEntry
from harness.errors import FaultError, NetnsError, UsageError
from harness.ledger import LedgerEntry, UndoStatus, register_undo
from harness.netns import (
    Hook,
    Host,
    Namespace,
    NftTable,
    apply_table,
    chain_text,
    delete_table,
    drop_rule,
    loss_rule,
    reject_rule,
    remove_root_qdisc,
    root_qdisc,
    table_exists,
    tbf_limit,
)

__all__ = [
    "NFT_FAULT_KIND",
    "TC_FAULT_KIND",
    "Direction",
    "NftFault",
    "TbfFault",
    "bandwidth_limit",
    "packet_loss",
    "partition",
    "refuse",
]

NFT_FAULT_KIND: Final = "fault.nft"
TC_FAULT_KIND: Final = "fault.tc"
#: Ahead of any lab chain at priority 0 (e.g. the netpol lab's accept rules).
_PRIORITY: Final = -10

#: (hook, rules) per base chain of a fault's table.
Chains = tuple[tuple[Hook, tuple[str, ...]], ...]


class Direction(enum.Enum):
    """Which packets a fault acts on, seen from the server (Chaos Mesh's ``direction``)."""

    TO_SERVER = "to"  # client -> server (requests)
    FROM_SERVER = "from"  # server -> client (responses)
    BOTH = "both"

    @property
    def to_server(self) -> bool:
        return self is not Direction.FROM_SERVER

    @property
    def from_server(self) -> bool:
        return self is not Direction.TO_SERVER


def _table_name(kind: str) -> str:
    return f"slo_{kind}_{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class NftFault:
    """A fault made of one nft table in one namespace (partition, refuse, loss)."""

    label: str
    namespace: Namespace
    chains: Chains
    table: NftTable

    @property
    def name(self) -> str:
        return self.label

    def undo_entry(self) -> UndoEntry:
        undo: dict[str, object] = {
            "netns": self.namespace.name,
            "family": self.table.family,
            "table": self.table.name,
        }
        return UndoEntry(NFT_FAULT_KIND, f"{self.namespace.name}/{self.table}", undo)

    def script(self) -> str:
        """The table body applied by :meth:`inject` (for the journal and for reading)."""
        return "\n".join(
            chain_text(f"{hook.value}_fault", hook, rules, priority=_PRIORITY)
            for hook, rules in self.chains
        )

    def inject(self) -> None:
        try:
            apply_table(self.namespace, self.table, self.script())
        except NetnsError as exc:
            raise FaultError(f"{self.label}: {exc}") from exc

    def is_active(self) -> bool:
        try:
            return table_exists(self.namespace, self.table)
        except NetnsError as exc:
            raise FaultError(f"{self.label}: cannot list nft tables: {exc}") from exc

    def rollback(self) -> None:
        try:
            delete_table(self.namespace, self.table)
        except NetnsError as exc:
            raise FaultError(f"{self.label}: rollback failed: {exc}") from exc


@dataclass(frozen=True, slots=True)
class TbfFault:
    """A bandwidth limit: tc tbf as the root qdisc of one or two interfaces."""

    label: str
    interfaces: tuple[tuple[Namespace, str], ...]
    rate_bit_s: int

    @property
    def name(self) -> str:
        return self.label

    def undo_entry(self) -> UndoEntry:
        pairs = [[ns.name, ifname] for ns, ifname in self.interfaces]
        key = ",".join(f"{ns}/{ifname}" for ns, ifname in pairs)
        return UndoEntry(TC_FAULT_KIND, key, {"interfaces": pairs})

    def inject(self) -> None:
        try:
            for ns, ifname in self.interfaces:
                tbf_limit(ns, ifname, self.rate_bit_s)
        except NetnsError as exc:
            raise FaultError(f"{self.label}: {exc}") from exc

    def is_active(self) -> bool:
        """True while a tbf is the root qdisc of any of the fault's interfaces."""
        try:
            found = [root_qdisc(ns, ifname) for ns, ifname in self.interfaces]
        except NetnsError as exc:
            raise FaultError(f"{self.label}: cannot read qdiscs: {exc}") from exc
        return any(q is not None and q.kind == "tbf" for q in found)

    def rollback(self) -> None:
        try:
            _remove_tbfs(self.interfaces)
        except NetnsError as exc:
            raise FaultError(f"{self.label}: rollback failed: {exc}") from exc


def _remove_tbfs(interfaces: Sequence[tuple[Namespace, str]]) -> bool:
    removed = False
    for ns, ifname in interfaces:
        removed = remove_root_qdisc(ns, ifname) or removed
    return removed


# -- the four faults ------------------------------------------------------------------------------


def _split(direction: Direction, to_rule: str, from_rule: str) -> Chains:
    chains: list[tuple[Hook, tuple[str, ...]]] = []
    if direction.to_server:
        chains.append((Hook.INPUT, (to_rule,)))
    if direction.from_server:
        chains.append((Hook.OUTPUT, (from_rule,)))
    return tuple(chains)


def partition(client: Host, server: Host, direction: Direction = Direction.BOTH) -> NftFault:
    """Drop every packet between ``client`` and ``server`` (in ``direction``)."""
    c = str(client.address)
    return NftFault(
        f"partition {client.label} x {server.label} ({direction.value})",
        server.namespace,
        _split(direction, drop_rule(src=c), drop_rule(dst=c)),
        NftTable("inet", _table_name("partition")),
    )


def refuse(client: Host, server: Host, port: int) -> NftFault:
    """Answer ``client``'s TCP packets to ``server:port`` with a reset (connection refused)."""
    rule = reject_rule(src=str(client.address), dst=str(server.address), dport=port)
    return NftFault(
        f"refuse {client.label} -> {server.label}:{port}",
        server.namespace,
        ((Hook.INPUT, (rule,)),),
        NftTable("inet", _table_name("refuse")),
    )


def packet_loss(
    client: Host, server: Host, percent: int, direction: Direction = Direction.BOTH
) -> NftFault:
    """Drop ``percent`` % of the packets between ``client`` and ``server`` at random."""
    if not 0 < percent <= 100:
        raise UsageError(f"packet loss {percent}%: expected 1-100")
    c = str(client.address)
    return NftFault(
        f"loss {percent}% {client.label} x {server.label} ({direction.value})",
        server.namespace,
        _split(direction, loss_rule(percent, src=c), loss_rule(percent, dst=c)),
        NftTable("inet", _table_name("loss")),
    )


def bandwidth_limit(
    client: Host, server: Host, rate_bit_s: int, direction: Direction = Direction.BOTH
) -> TbfFault:
    """Limit requests (client's egress) and/or responses (server's egress) to ``rate_bit_s``."""
    interfaces: list[tuple[Namespace, str]] = []
    if direction.to_server:
        interfaces.append((client.namespace, client.ifname))
    if direction.from_server:
        interfaces.append((server.namespace, server.ifname))
    return TbfFault(
        f"bandwidth {rate_bit_s / 1e6:g} Mbit/s {client.label} x {server.label} "
        f"({direction.value})",
        tuple(interfaces),
        rate_bit_s,
    )


# -- ledger undo handlers -------------------------------------------------------------------------


def _undo_nft(entry: LedgerEntry) -> UndoStatus:
    netns, family, table = (entry.undo.get(k) for k in ("netns", "family", "table"))
    if not (isinstance(netns, str) and isinstance(family, str) and isinstance(table, str)):
        return UndoStatus.FAILED
    ns = Namespace(netns)
    if not ns.exists():
        return UndoStatus.ALREADY_GONE  # the table went with its namespace
    removed = delete_table(ns, NftTable(family, table))
    return UndoStatus.REMOVED if removed else UndoStatus.ALREADY_GONE


def _undo_tc(entry: LedgerEntry) -> UndoStatus:
    pairs = entry.undo.get("interfaces")
    if not isinstance(pairs, list):
        return UndoStatus.FAILED
    interfaces = [(Namespace(str(p[0])), str(p[1])) for p in pairs]
    return UndoStatus.REMOVED if _remove_tbfs(interfaces) else UndoStatus.ALREADY_GONE


register_undo(NFT_FAULT_KIND, _undo_nft)
register_undo(TC_FAULT_KIND, _undo_tc)
