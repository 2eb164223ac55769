"""nftables inside a lab namespace: apply a table from rule text, delete it, list tables, and the
rule primitives network faults need (drop, reject with TCP reset, random loss).

Why the ``nft`` CLI (``nft -f -``) and not pyroute2's nftables module: pyroute2 builds nftables
expressions from netlink attributes, with no parser for rule text; the netpol lab compiles
policies to rule *text*, and ``nft -f`` applies a whole script in one kernel transaction (all or
nothing), which is what a fault or a per-pod chain set needs. ``nft -j`` lists tables as JSON.

Every call runs inside a lab namespace (:class:`~harness.netns.namespace.Namespace`); nothing
here touches the host's ruleset. Applying a table *replaces* a table of the same name in the
same transaction (``table X`` + ``delete table X`` + ``table X {...}``), so re-applying is
idempotent. Conntrack is per namespace: a rule ``ct state established,related accept`` sees only
the flows of its own namespace.

Loss is per packet (``numgen random mod 100 < N``): a TCP connection that needs several packets
fails or retransmits more often than N% (REFERENCE.md, "This machine").
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from harness.errors import NetnsError, UsageError
from harness.netns.namespace import Namespace

__all__ = [
    "Hook",
    "NftTable",
    "apply_table",
    "chain_text",
    "delete_table",
    "drop_rule",
    "list_tables",
    "loss_rule",
    "reject_rule",
    "table_exists",
]

_NAME_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_FAMILIES: Final = frozenset({"inet", "ip", "ip6", "bridge", "netdev", "arp"})


class Hook(enum.Enum):
    """Netfilter hooks a lab chain attaches to (inet family)."""

    INPUT = "input"
    OUTPUT = "output"
    FORWARD = "forward"


@dataclass(frozen=True, slots=True, order=True)
class NftTable:
    """A table's identity: family and name (``inet slo_fault_1``)."""

    family: str
    name: str

    def __post_init__(self) -> None:
        if self.family not in _FAMILIES:
            raise UsageError(f"nft family {self.family!r}: expected one of {sorted(_FAMILIES)}")
        if not _NAME_RE.fullmatch(self.name):
            raise UsageError(f"nft table name {self.name!r}: expected [A-Za-z][A-Za-z0-9_]*")

    def __str__(self) -> str:
        return f"{self.family} {self.name}"


def apply_table(ns: Namespace, table: NftTable, body: str) -> None:
    """Create or atomically replace ``table`` in ``ns`` with ``body`` (chains and sets)."""
    script = f"table {table}\ndelete table {table}\ntable {table} {{\n{body}\n}}\n"
    ns.run(["nft", "-f", "-"], input_text=script)


def delete_table(ns: Namespace, table: NftTable) -> bool:
    """Delete ``table`` if present; False when it (or the namespace) was already gone."""
    if not ns.exists() or table not in list_tables(ns):
        return False
    ns.run(["nft", "delete", "table", table.family, table.name])
    return True


def list_tables(ns: Namespace) -> list[NftTable]:
    """The tables in ``ns``'s ruleset, sorted."""
    out = ns.run(["nft", "-j", "list", "tables"]).stdout
    try:
        items = json.loads(out)["nftables"]
    except (ValueError, KeyError, TypeError) as exc:
        raise NetnsError(f"{ns.name}: unreadable `nft -j list tables` output") from exc
    return sorted(
        NftTable(item["table"]["family"], item["table"]["name"])
        for item in items
        if "table" in item
    )


def table_exists(ns: Namespace, table: NftTable) -> bool:
    """True when ``ns`` exists and holds ``table``."""
    return ns.exists() and table in list_tables(ns)


def chain_text(
    name: str, hook: Hook, rules: Sequence[str], *, priority: int = 0, policy: str = "accept"
) -> str:
    """A base chain (filter type) holding ``rules``, as nft script text.

    ``policy`` is ``accept`` (faults: drop only what matches) or ``drop`` (isolation: allow only
    what matches; pair it with ``ct state established,related accept`` for replies).
    """
    if not _NAME_RE.fullmatch(name):
        raise UsageError(f"nft chain name {name!r}: expected [A-Za-z][A-Za-z0-9_]*")
    if policy not in ("accept", "drop"):
        raise UsageError(f"nft chain policy {policy!r}: expected accept or drop")
    lines = "\n".join(f"    {r}" for r in rules)
    header = f"type filter hook {hook.value} priority {priority}; policy {policy};"
    return f"  chain {name} {{\n    {header}\n{lines}\n  }}"


def _match(src: str | None, dst: str | None, dport: int | None) -> str:
    parts = []
    if src is not None:
        parts.append(f"ip saddr {ipaddress.IPv4Address(src)}")
    if dst is not None:
        parts.append(f"ip daddr {ipaddress.IPv4Address(dst)}")
    if dport is not None:
        parts.append(f"tcp dport {_port(dport)}")
    return " ".join(parts)


def _port(port: int) -> int:
    if not 0 < port < 65536:
        raise UsageError(f"port {port}: expected 1-65535")
    return port


def drop_rule(*, src: str | None = None, dst: str | None = None, dport: int | None = None) -> str:
    """Silently drop matching packets (a partition: the peer sees a timeout)."""
    return f"{_match(src, dst, dport)} drop".strip()


def reject_rule(*, src: str | None = None, dst: str | None = None, dport: int | None = None) -> str:
    """Answer matching TCP packets with a reset (a refusal: the peer sees ECONNREFUSED at once)."""
    match = _match(src, dst, dport)
    if dport is None:  # `tcp dport` implies TCP; without it, say so (reset needs a TCP packet)
        match = f"{match} meta l4proto tcp".strip()
    return f"{match} reject with tcp reset"


def loss_rule(
    percent: float, *, src: str | None = None, dst: str | None = None, dport: int | None = None
) -> str:
    """Drop ``percent`` % of matching packets at random (per packet, integer percent 0-100)."""
    if not 0 <= percent <= 100 or percent != int(percent):
        raise UsageError(f"loss {percent}%: expected an integer percentage 0-100")
    return f"{_match(src, dst, dport)} numgen random mod 100 < {int(percent)} drop".strip()
