"""tc inside a lab namespace: a tbf bandwidth limit on an interface's egress, its removal, and an
observation of the root qdisc (so a fault's ``is_active`` reads the kernel, not a flag).

Why the ``tc`` CLI: pyroute2 0.9.7's ``tc("add", "tbf", ...)`` fails here before sending
(``KeyError: 'rate'`` in its rate-parameter helper, observed), and ``tc -j`` gives the qdisc as
JSON. There is no ``netem`` in this kernel, so delay/jitter come from the fault proxy; tbf and
htb work.

Units: rates in bits per second (``rate_bit_s``), burst in bytes, latency (tbf's queue bound) in
milliseconds. The burst must hold at least one full frame, or every full-size packet is dropped
(REFERENCE.md, "This machine"); the default is 10 ms worth of rate but never below two frames.
A tbf limits one direction: the egress of the interface it sits on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from harness.errors import NetnsError, UsageError
from harness.netns.namespace import Namespace

__all__ = ["Qdisc", "remove_root_qdisc", "root_qdisc", "tbf_limit"]

#: Ethernet MTU plus header: one full frame on a lab veth.
FRAME_BYTES: Final = 1514
_DEFAULT_QDISCS: Final = frozenset({"noqueue", "noop", "pfifo_fast", "fq_codel", "mq"})


@dataclass(frozen=True, slots=True)
class Qdisc:
    """The root qdisc of an interface as the kernel reports it."""

    kind: str  # "tbf", "noqueue", ...
    handle: str
    rate_bytes_s: int | None = None  # tbf only
    burst_bytes: int | None = None  # tbf only

    @property
    def is_default(self) -> bool:
        """True for the qdisc an interface has when nobody configured one."""
        return self.kind in _DEFAULT_QDISCS


def default_burst_bytes(rate_bit_s: int) -> int:
    """10 ms of ``rate_bit_s``, at least two full frames."""
    return max(rate_bit_s // 8 // 100, 2 * FRAME_BYTES)


def tbf_limit(
    ns: Namespace,
    ifname: str,
    rate_bit_s: int,
    *,
    burst_bytes: int | None = None,
    latency_ms: float = 50.0,
) -> None:
    """Replace ``ifname``'s root qdisc with a token bucket at ``rate_bit_s`` (egress)."""
    if rate_bit_s < 8_000:
        raise UsageError(f"bandwidth {rate_bit_s} bit/s: expected at least 8000 (1 KB/s)")
    burst = default_burst_bytes(rate_bit_s) if burst_bytes is None else burst_bytes
    if burst < FRAME_BYTES:
        raise UsageError(f"tbf burst {burst} B: expected at least one frame ({FRAME_BYTES} B)")
    if latency_ms <= 0:
        raise UsageError(f"tbf latency {latency_ms} ms: expected > 0")
    shape = ["rate", f"{rate_bit_s}bit", "burst", str(burst), "latency", f"{latency_ms}ms"]
    ns.run(["tc", "qdisc", "replace", "dev", ifname, "root", "tbf", *shape])


def root_qdisc(ns: Namespace, ifname: str) -> Qdisc | None:
    """The root qdisc of ``ifname`` in ``ns``; None when the namespace or interface is gone."""
    if not ns.exists():
        return None
    try:
        out = ns.run(["tc", "-j", "qdisc", "show", "dev", ifname, "root"]).stdout
    except NetnsError as exc:
        if "Cannot find device" in str(exc):
            return None
        raise
    try:
        first = json.loads(out)[0]
        options = first.get("options", {})
        return Qdisc(
            kind=str(first["kind"]),
            handle=str(first["handle"]),
            rate_bytes_s=options.get("rate"),
            burst_bytes=options.get("burst"),
        )
    except (ValueError, LookupError, TypeError) as exc:
        raise NetnsError(f"{ns.name}: unreadable `tc -j qdisc show dev {ifname}` output") from exc


def remove_root_qdisc(ns: Namespace, ifname: str) -> bool:
    """Restore ``ifname``'s default root qdisc; False when nothing was configured (or gone)."""
    current = root_qdisc(ns, ifname)
    if current is None or current.is_default:
        return False
    ns.run(["tc", "qdisc", "del", "dev", ifname, "root"])
    after = root_qdisc(ns, ifname)
    if after is not None and not after.is_default:
        raise NetnsError(f"{ns.name}: {ifname} still has a {after.kind} root qdisc after removal")
    return True
