"""Can this machine host a namespace lab? Every missing piece, each with an actionable reason.

Why a probe instead of trying and failing: a lab half-built before ``nft`` turns out missing
leaves work for the cleanup path, and a test that fails with ``FileNotFoundError`` says nothing
useful. Commands call :func:`require` first (``LabUnavailable`` -> exit 3 with every reason on one
line); tests call :func:`lab_support` and skip with :attr:`Capabilities.reason`.

What is checked: effective uid 0 (namespaces, veth, nft and tc need CAP_NET_ADMIN and
CAP_SYS_ADMIN; a non-root user namespace would not give the bridge the host's nft), the ``ip``,
``nft`` and ``tc`` programs (iproute2 and nftables; ``scripts/install-test-deps.sh`` installs
them), pyroute2, and, when asked, that a network namespace can really be created here (a
container without CAP_SYS_ADMIN passes every other check and still fails that one).
"""

from __future__ import annotations

import enum
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Final

from harness.errors import LabUnavailable

__all__ = ["Capabilities", "Need", "lab_support", "require"]

_PROBE_TIMEOUT_S: Final = 5.0


class Need(enum.Enum):
    """One thing a lab operation may need."""

    ROOT = "root"
    IP = "ip"  # iproute2: `ip netns exec` runs programs inside a namespace
    NFT = "nft"  # nftables: partition, refuse, loss, the netpol lab's per-pod chains
    TC = "tc"  # iproute2's tc: the tbf bandwidth limit
    PYROUTE2 = "pyroute2"  # namespaces, veth pairs, the bridge, addresses
    NETNS = "netns"  # creating a network namespace is permitted here


_REASONS: Final[dict[Need, str]] = {
    Need.ROOT: "not root (network namespaces, nftables and tc need root; CI runs as root)",
    Need.IP: "`ip` missing (install iproute2)",
    Need.NFT: "`nft` missing (install nftables; scripts/install-test-deps.sh does)",
    Need.TC: "`tc` missing (install iproute2)",
    Need.PYROUTE2: "the pyroute2 package is not installed (pip install -e . installs it)",
    Need.NETNS: "creating a network namespace is not permitted here (`unshare -n true` failed)",
}

#: What a plain lab (namespaces + bridge + running programs inside) needs.
LAB_NEEDS: Final = frozenset({Need.ROOT, Need.IP, Need.PYROUTE2, Need.NETNS})


@dataclass(frozen=True, slots=True)
class Capabilities:
    """The outcome of a probe: which needs are missing."""

    missing: frozenset[Need]

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def reason(self) -> str:
        """Every missing need's reason, ``; ``-separated (empty when nothing is missing)."""
        return "; ".join(_REASONS[n] for n in Need if n in self.missing)


def _has(need: Need) -> bool:
    if need is Need.ROOT:
        return os.geteuid() == 0
    if need is Need.PYROUTE2:
        return importlib.util.find_spec("pyroute2") is not None
    if need is Need.NETNS:
        return _can_unshare()
    return shutil.which(need.value) is not None


def _can_unshare() -> bool:
    exe = shutil.which("unshare")
    if exe is None or os.geteuid() != 0:
        return False
    try:
        done = subprocess.run([exe, "-n", "true"], capture_output=True, timeout=_PROBE_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def lab_support(*extra: Need) -> Capabilities:
    """Probe what a lab needs plus ``extra`` (e.g. ``Need.NFT`` for faults, ``Need.TC``)."""
    wanted = LAB_NEEDS | set(extra)
    missing = {n for n in wanted if not _has(n)}
    if Need.ROOT in missing:
        missing.discard(Need.NETNS)  # implied by "not root"; one reason is clearer than two
    return Capabilities(frozenset(missing))


def require(*extra: Need) -> None:
    """Raise :class:`LabUnavailable` naming every missing capability, or return."""
    caps = lab_support(*extra)
    if not caps.ok:
        raise LabUnavailable(f"cannot build a network lab here: {caps.reason}")
