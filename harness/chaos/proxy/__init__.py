"""The fault proxy: Toxiproxy's toxics plus per-request HTTP faults, in a process of its own.

A userspace TCP proxy (asyncio, on uvloop when installed) in front of the service or of a
dependency such as Redis; this machine's kernel has no netem, so latency and jitter come from here.
Start one with :func:`launch_proxy` (recorded in the ledger, dies with its parent), point load at
``handle.url()``, and inject faults through the :class:`~harness.chaos.fault.Fault` protocol
(:class:`ToxicFault` with a toxic from a builder, :class:`ProxyDownFault`) or directly through
:class:`ProxyClient`. The modules: ``model`` (wire format, validation), ``sampling`` (jitter
distributions), ``framing`` (HTTP message boundaries), ``link``/``connection``/``runtime`` (the
data path), ``control`` (the loopback-only JSON API), ``main`` (the process), ``launcher``,
``client``, ``faults``. Importing this package does not import uvloop; nothing here imports
uvicorn.
"""

from harness.chaos.proxy.client import ProxyClient, ProxyUnreachable
from harness.chaos.proxy.faults import (
    PROXY_TOXIC_KIND,
    ProxyDownFault,
    ToxicFault,
    bandwidth_toxic,
    describe,
    http_fault_toxic,
    latency_toxic,
    limit_data_toxic,
    reset_peer_toxic,
    slicer_toxic,
    slow_close_toxic,
    timeout_toxic,
)
from harness.chaos.proxy.launcher import (
    PROXY_PROCESS_KIND,
    ProxyHandle,
    launch_proxy,
    upstream_hostport,
)
from harness.chaos.proxy.model import (
    Distribution,
    Protocol,
    ProxyConfig,
    Stream,
    Toxic,
    ToxicKind,
    parse_proxy,
    parse_toxic,
    toxic_to_json,
)

__all__ = [
    "PROXY_PROCESS_KIND",
    "PROXY_TOXIC_KIND",
    "Distribution",
    "Protocol",
    "ProxyClient",
    "ProxyConfig",
    "ProxyDownFault",
    "ProxyHandle",
    "ProxyUnreachable",
    "Stream",
    "Toxic",
    "ToxicFault",
    "ToxicKind",
    "bandwidth_toxic",
    "describe",
    "http_fault_toxic",
    "latency_toxic",
    "launch_proxy",
    "limit_data_toxic",
    "parse_proxy",
    "parse_toxic",
    "reset_peer_toxic",
    "slicer_toxic",
    "slow_close_toxic",
    "timeout_toxic",
    "toxic_to_json",
    "upstream_hostport",
]
