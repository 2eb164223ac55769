"""The live enforcement lab: every endpoint a network namespace, the policies compiled into nftables
inside each, real listeners on every declared port, probed from every other endpoint.

Built on :class:`harness.netns.Lab` (bridge namespace + one member per endpoint, 198.18.0.0/15,
no default route, ledger entries before each namespace exists): endpoint *i* of the matrix gets
host label ``e<i>-<name>`` and address ``.(i+1)``. External endpoints (an internet address from a
pods file) become hosts too, at a lab address: the ipBlock rules that name their declared address
are compiled to that lab address (:mod:`harness.netpol.nftgen`), so nothing is ever sent outside
the lab.

Listeners: one agent process (:mod:`harness.netpol.agent`, started as a stdlib-only script)
binds a TCP accept server or a UDP echo server on every declared port of every endpoint, except
the ports a caller serves itself (``serve_elsewhere``: the real reference service in the
scorer's namespace). Its stdin is our pipe: if this process dies, the agent sees EOF and exits.

Lifecycle: :meth:`PolicyLab.build` -> probe (:meth:`prober`) -> :meth:`close` (agent stopped,
every namespace removed and verified; SIGINT/SIGTERM held back during teardown by
``Lab.close``). :meth:`apply` re-compiles a *changed* policy set onto the same hosts (one nft
transaction per pod), so a change can be probed before it is deployed. A crash leaves ledger
entries that ``slo-harness chaos cleanup`` (``harness.ledger.sweep``) undoes.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import select
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from harness.errors import NetnsError, UsageError
from harness.ledger import Ledger
from harness.netns import (
    Host,
    Lab,
    Need,
    NftTable,
    apply_table,
    default_prefix,
    delete_table,
    require,
)
from harness.netpol import agent
from harness.netpol.engine import Matrix
from harness.netpol.model import Endpoint, Protocol
from harness.netpol.nftgen import TABLE_NAME, DenyAction, PodRules, compile_pod_rules
from harness.netpol.probe import Observation

__all__ = ["LabProber", "PolicyLab", "ServedPort"]

ServedPort = tuple[str, int, str]  # (endpoint ref, port, protocol): served by the caller
_AGENT: Final = Path(agent.__file__)
_READY_TIMEOUT_S: Final = 15.0
_STOP_TIMEOUT_S: Final = 5.0
_TABLE: Final = NftTable("inet", TABLE_NAME)
_SLUG: Final = re.compile(r"[^a-z0-9-]+")


def _subnet(count: int) -> str:
    """The smallest subnet of 198.18.0.0/15 that holds ``count`` hosts."""
    for prefixlen in range(24, 15, -1):
        if count <= 2 ** (32 - prefixlen) - 2:
            return f"198.18.0.0/{prefixlen}"
    raise UsageError(f"{count} endpoints do not fit in a lab (198.18.0.0/15)")


def _label(index: int, endpoint: Endpoint, room: int) -> str:
    slug = _SLUG.sub("-", endpoint.name.lower()).strip("-") or "pod"
    return f"e{index}-{slug}"[:room].rstrip("-")


class PolicyLab:
    """A built lab for one endpoint set (use :meth:`build`; close with :meth:`close`)."""

    def __init__(self, lab: Lab, matrix: Matrix, deny: DenyAction) -> None:
        self.lab = lab
        self.matrix = matrix
        self.deny = deny
        self.hosts: dict[str, Host] = {
            ep.ref: host for ep, host in zip(matrix.endpoints, lab.hosts, strict=True)
        }
        self.rules: list[PodRules] = []
        self.build_s = 0.0
        self._agent: subprocess.Popen[bytes] | None = None

    # -- building --------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        matrix: Matrix,
        *,
        deny: DenyAction = DenyAction.DROP,
        serve_elsewhere: Collection[ServedPort] = (),
        ledger: Ledger | None = None,
        prefix: str | None = None,
    ) -> PolicyLab:
        """Namespaces, policies and listeners for ``matrix``'s endpoints (or LabUnavailable)."""
        require(Need.NFT)
        started = time.monotonic()
        room = 63 - len(default_prefix() if prefix is None else prefix) - 7
        labels = [_label(i, ep, room) for i, ep in enumerate(matrix.endpoints)]
        lab = Lab.create(labels, subnet=_subnet(len(labels)), ledger=ledger, prefix=prefix)
        built = cls(lab, matrix, deny)
        try:
            built.apply(matrix)
            built._start_agent(serve_elsewhere)
        except BaseException:
            built.close()
            raise
        built.build_s = time.monotonic() - started
        return built

    def address(self, ref: str) -> str:
        """The lab address of endpoint ``ref``."""
        return str(self.host(ref).address)

    def host(self, ref: str) -> Host:
        """The lab host of endpoint ``ref`` (``namespace/name``)."""
        try:
            return self.hosts[ref]
        except KeyError:
            raise UsageError(f"the lab has no endpoint {ref!r}") from None

    def apply(self, matrix: Matrix) -> None:
        """Compile ``matrix``'s policies onto the hosts (same endpoints; replaces the old rules)."""
        if [e.ref for e in matrix.endpoints] != [e.ref for e in self.matrix.endpoints]:
            raise UsageError("a policy change in a running lab must keep the same endpoints")
        addresses = {i: str(h.address) for i, h in enumerate(self.lab.hosts)}
        rules = compile_pod_rules(matrix, addresses, self.deny)
        for pod in rules:
            ns = self.lab.hosts[pod.endpoint].namespace
            if pod.isolated:
                apply_table(ns, _TABLE, pod.table_body())
            else:
                delete_table(ns, _TABLE)
        self.matrix, self.rules = matrix, rules

    def _listener_specs(self, skip: Collection[ServedPort]) -> list[dict[str, Any]]:
        specs = []
        for ep, host in zip(self.matrix.endpoints, self.lab.hosts, strict=True):
            ports = [p for p in ep.ports if (ep.ref, p.port, p.protocol.value) not in skip]
            tcp = sorted({p.port for p in ports if p.protocol is Protocol.TCP})
            udp = sorted({p.port for p in ports if p.protocol is Protocol.UDP})
            if tcp or udp:
                ns_path = str(host.namespace.path)
                specs.append({"netns": ns_path, "ip": str(host.address), "tcp": tcp, "udp": udp})
        return specs

    def _start_agent(self, skip: Collection[ServedPort]) -> None:
        specs = self._listener_specs(skip)
        if not specs:
            return
        self._agent = subprocess.Popen(
            [sys.executable, "-I", str(_AGENT), "serve", json.dumps(specs)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self._agent.stdout is not None
        line = _read_line(self._agent.stdout, _READY_TIMEOUT_S)
        doc = json.loads(line) if line.startswith(b"{") else {}
        if not doc.get("ready"):
            err = doc.get("error") or (line.decode(errors="replace") or "no answer")
            raise NetnsError(f"lab listeners did not start: {err}")

    # -- probing ---------------------------------------------------------------------------

    def prober(self) -> LabProber:
        """A :class:`~harness.netpol.probe.Prober` over this lab's hosts."""
        return LabProber(self)

    def namespaces(self) -> list[str]:
        """Every namespace of this lab still present."""
        return self.lab.namespaces()

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the listeners, remove every namespace (verified). Idempotent."""
        proc, self._agent = self._agent, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self.lab.close()

    def __enter__(self) -> PolicyLab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _read_line(stream: IO[bytes], timeout_s: float) -> bytes:
    ready, _, _ = select.select([stream], [], [], timeout_s)
    return stream.readline().strip() if ready else b""


_OBSERVATIONS: Final = {
    agent.ALLOWED: Observation.ALLOWED,
    agent.BLOCKED: Observation.BLOCKED,
    agent.ERROR: Observation.ERROR,
}


class LabProber:
    """Fresh connections between lab hosts: TCP connect, UDP echo (thread-safe)."""

    def __init__(self, lab: PolicyLab) -> None:
        self._lab = lab

    def connect(
        self, src: Endpoint, dst: Endpoint, port: int, protocol: Protocol, timeout_s: float
    ) -> tuple[Observation, str]:
        source = self._lab.host(src.ref)
        target = ipaddress.IPv4Address(self._lab.address(dst.ref))
        observed, detail = agent.probe(
            str(source.namespace.path), str(target), port, protocol.value, timeout_s
        )
        return _OBSERVATIONS[observed], detail
