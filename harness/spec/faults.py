"""Fault specs of a game day: one tagged union on ``kind``, a Struct per fault kind.

Each kind maps onto one fault the harness can inject (``harness.chaos`` registers a builder per
kind, next to the fault's code); the fields and their names follow the anchors SREs know:
Toxiproxy's toxics (``latency``, ``bandwidth``, ``slow_close``, ``timeout``, ``reset_peer``,
``slicer``, ``limit_data``, each with ``stream`` and ``toxicity``), xk6-disruptor's HTTP fault
(``error_rate``, ``error_code``, ``error_body``, ``average_delay_ms``, ``delay_variation_ms``,
``exclude``), process faults (``pause``, ``kill``, ``cpu_throttle``, ``cpu_hog``, ``memory``) and
network faults between the load generator's and the service's namespaces (``partition``,
``refuse``, ``loss``, ``network_bandwidth``).

Units are in the field names (``_ms``, ``_us``, ``_bytes``, ``_kb_s`` = kilobytes per second as in
Toxiproxy, ``_kbit_s`` = kilobits per second as in ``tc``). Proxy faults sit in front of the
scoring service (``target: service``) or of its feature store (``target: feature_store``: the
dependency faults, Redis behind the proxy). ``blast_target`` says what a fault touches; a game
day's blast radius must contain it.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final, get_args

from msgspec import Meta, Struct

__all__ = [
    "FAULT_KINDS",
    "TOXIC_KINDS",
    "BandwidthFault",
    "BlastTarget",
    "CpuHogFault",
    "CpuThrottleFault",
    "Distribution",
    "FaultSpec",
    "HttpFault",
    "KillFault",
    "KillScope",
    "LatencyFault",
    "LimitDataFault",
    "LossFault",
    "MemoryFault",
    "NetworkBandwidthFault",
    "PartitionFault",
    "PauseFault",
    "PauseMethod",
    "ProxyTarget",
    "RefuseFault",
    "ResetPeerFault",
    "SlicerFault",
    "SlowCloseFault",
    "Stream",
    "TimeoutFault",
    "ToxicSpec",
]

Ms = Annotated[float, Meta(ge=0.0, le=600_000.0)]
PositiveMs = Annotated[float, Meta(gt=0.0, le=600_000.0)]
Ratio = Annotated[float, Meta(ge=0.0, le=1.0)]
Percent = Annotated[float, Meta(gt=0.0, le=100.0)]
PositiveInt = Annotated[int, Meta(ge=1, le=1_000_000_000)]


class ProxyTarget(enum.Enum):
    """Where the fault proxy sits."""

    SERVICE = "service"  # between the load generator and the scoring service
    FEATURE_STORE = "feature_store"  # between the service and its Redis feature store


class BlastTarget(enum.Enum):
    """What a fault touches (a game day's blast radius lists the allowed ones)."""

    SERVICE = "service"
    FEATURE_STORE = "feature_store"
    NETWORK = "network"


class Stream(enum.Enum):
    """Toxiproxy's direction of a toxic."""

    UPSTREAM = "upstream"  # client -> server
    DOWNSTREAM = "downstream"  # server -> client


class Distribution(enum.Enum):
    """How latency jitter is drawn (netem's and Pumba's names)."""

    UNIFORM = "uniform"
    NORMAL = "normal"
    PARETO = "pareto"
    PARETONORMAL = "paretonormal"


class PauseMethod(enum.Enum):
    """How a process is stalled."""

    SIGSTOP = "sigstop"  # SIGSTOP / SIGCONT (no root)
    FREEZE = "freeze"  # cgroup v2 cgroup.freeze (root)


class KillScope(enum.Enum):
    """What a ``kill`` fault kills."""

    WORKER = "worker"  # one service worker process; the service's supervisor restarts it
    SERVICE = "service"  # the whole service; the harness restarts it when ``restart`` is set


class _FaultBase(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="kind"):
    """Fields every fault kind has."""

    @property
    def kind(self) -> str:
        """The ``kind`` tag, e.g. ``latency``."""
        return str(self.__struct_config__.tag)

    @property
    def blast_target(self) -> BlastTarget:
        """What this fault touches."""
        return BlastTarget.SERVICE

    @property
    def requires_root(self) -> bool:
        """True when injecting it needs root (namespaces, nftables, tc, cgroups)."""
        return False

    @property
    def summary(self) -> str:
        """A one-line description for the timeline, the journal and the dashboard."""
        return self.kind


# -- fault proxy (Toxiproxy's toxics) ------------------------------------------------------------
class _ToxicBase(_FaultBase, frozen=True, kw_only=True):
    target: ProxyTarget = ProxyTarget.SERVICE
    stream: Stream = Stream.DOWNSTREAM
    toxicity: Ratio = 1.0  # share of connections affected (drawn once per connection)

    @property
    def blast_target(self) -> BlastTarget:
        return BlastTarget(self.target.value)

    def _where(self) -> str:
        share = "" if self.toxicity >= 1.0 else f", {self.toxicity:.0%} of connections"
        return f" -> {self.target.value} ({self.stream.value}{share})"


class LatencyFault(_ToxicBase, tag="latency", frozen=True, kw_only=True):
    """Toxiproxy ``latency``: every chunk is held ``latency_ms`` +/- ``jitter_ms``."""

    latency_ms: Ms
    jitter_ms: Ms = 0.0
    distribution: Distribution = Distribution.UNIFORM

    def __post_init__(self) -> None:
        if self.latency_ms == 0 and self.jitter_ms == 0:
            raise ValueError("`latency_ms`: above 0 (or a jitter_ms), else the fault does nothing")

    @property
    def summary(self) -> str:
        jitter = f" +/- {self.jitter_ms:g} ms {self.distribution.value}" if self.jitter_ms else ""
        return f"latency {self.latency_ms:g} ms{jitter}{self._where()}"


class BandwidthFault(_ToxicBase, tag="bandwidth", frozen=True, kw_only=True):
    """Toxiproxy ``bandwidth``: at most ``rate_kb_s`` kilobytes per second."""

    rate_kb_s: Annotated[float, Meta(gt=0.0, le=10_000_000.0)]

    @property
    def summary(self) -> str:
        return f"bandwidth {self.rate_kb_s:g} KB/s{self._where()}"


class SlowCloseFault(_ToxicBase, tag="slow_close", frozen=True, kw_only=True):
    """Toxiproxy ``slow_close``: the close of a connection is delayed by ``delay_ms``."""

    delay_ms: PositiveMs

    @property
    def summary(self) -> str:
        return f"slow close {self.delay_ms:g} ms{self._where()}"


class TimeoutFault(_ToxicBase, tag="timeout", frozen=True, kw_only=True):
    """Toxiproxy ``timeout``: data stops; the connection closes after ``timeout_ms`` (0: never).

    With ``target: feature_store`` this is the feature-store outage (a blackhole)."""

    timeout_ms: Ms = 0.0

    @property
    def summary(self) -> str:
        when = "held forever" if self.timeout_ms == 0 else f"closed after {self.timeout_ms:g} ms"
        return f"blackhole ({when}){self._where()}"


class ResetPeerFault(_ToxicBase, tag="reset_peer", frozen=True, kw_only=True):
    """Toxiproxy ``reset_peer``: connections are reset (RST) after ``timeout_ms``."""

    timeout_ms: Ms = 0.0

    @property
    def summary(self) -> str:
        return f"reset peer after {self.timeout_ms:g} ms{self._where()}"


class SlicerFault(_ToxicBase, tag="slicer", frozen=True, kw_only=True):
    """Toxiproxy ``slicer``: data cut into ~``average_size_bytes`` pieces, ``delay_us`` apart."""

    average_size_bytes: PositiveInt
    size_variation_bytes: Annotated[int, Meta(ge=0, le=1_000_000_000)] = 0
    delay_us: Annotated[int, Meta(ge=0, le=60_000_000)] = 0

    def __post_init__(self) -> None:
        if self.size_variation_bytes >= self.average_size_bytes:
            raise ValueError("`size_variation_bytes`: smaller than average_size_bytes")

    @property
    def summary(self) -> str:
        return f"slicer {self.average_size_bytes} B every {self.delay_us} us{self._where()}"


class LimitDataFault(_ToxicBase, tag="limit_data", frozen=True, kw_only=True):
    """Toxiproxy ``limit_data``: a connection is closed after ``limit_bytes``."""

    limit_bytes: PositiveInt

    @property
    def summary(self) -> str:
        return f"limit data {self.limit_bytes} B{self._where()}"


class HttpFault(_FaultBase, tag="http", frozen=True, kw_only=True):
    """Per-request HTTP faults (xk6-disruptor's fields), decided per request, not per connection.

    ``error_rate`` of the requests get ``error_code`` with ``error_body``; every affected request
    is delayed ``average_delay_ms`` +/- ``delay_variation_ms``; paths in ``exclude`` pass
    untouched."""

    error_rate: Ratio = 0.0
    error_code: Annotated[int, Meta(ge=400, le=599)] = 500
    error_body: str = ""
    average_delay_ms: Ms = 0.0
    delay_variation_ms: Ms = 0.0
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.error_rate == 0 and self.average_delay_ms == 0:
            raise ValueError("`error_rate`: above 0 (or an average_delay_ms), else nothing happens")
        if self.delay_variation_ms > self.average_delay_ms:
            raise ValueError("`delay_variation_ms`: at most average_delay_ms")
        for path in self.exclude:
            if not path.startswith("/"):
                raise ValueError(f"`exclude`: paths starting with '/' (got {path!r})")

    @property
    def summary(self) -> str:
        parts = []
        if self.error_rate:
            parts.append(f"{self.error_rate:.4g} of requests -> HTTP {self.error_code}")
        if self.average_delay_ms:
            parts.append(f"delay {self.average_delay_ms:g} +/- {self.delay_variation_ms:g} ms")
        return "http " + ", ".join(parts)


# -- process -----------------------------------------------------------------------------------
class PauseFault(_FaultBase, tag="pause", frozen=True, kw_only=True):
    """The service stops running (a GC-like stall) for the step; it still accepts connections."""

    method: PauseMethod = PauseMethod.SIGSTOP

    @property
    def requires_root(self) -> bool:
        return self.method is PauseMethod.FREEZE

    @property
    def summary(self) -> str:
        return f"pause the service ({self.method.value})"


class KillFault(_FaultBase, tag="kill", frozen=True, kw_only=True):
    """SIGKILL of a worker (its supervisor restarts it) or of the service (restarted if asked)."""

    scope: KillScope = KillScope.WORKER
    restart: bool = True

    @property
    def summary(self) -> str:
        again = ", restarted" if self.restart else ""
        what = "one worker" if self.scope is KillScope.WORKER else "the whole service"
        return f"kill -9 {what}{again}"


class CpuThrottleFault(_FaultBase, tag="cpu_throttle", frozen=True, kw_only=True):
    """The service's CPU quota is cut to ``cpu_percent`` of one CPU (cgroup quota; root)."""

    cpu_percent: Percent

    @property
    def requires_root(self) -> bool:
        return True

    @property
    def summary(self) -> str:
        return f"cpu throttle to {self.cpu_percent:g}% of a CPU"


class CpuHogFault(_FaultBase, tag="cpu_hog", frozen=True, kw_only=True):
    """``workers`` busy processes next to the service, each at ``load_percent``."""

    workers: Annotated[int, Meta(ge=1, le=256)] = 1
    load_percent: Percent = 100.0

    @property
    def summary(self) -> str:
        return f"cpu hog {self.workers} x {self.load_percent:g}%"


class MemoryFault(_FaultBase, tag="memory", frozen=True, kw_only=True):
    """A process next to the service holds ``size_mb`` megabytes (memory pressure)."""

    size_mb: Annotated[int, Meta(ge=1, le=1_048_576)]

    @property
    def summary(self) -> str:
        return f"memory pressure {self.size_mb} MB"


# -- network (namespaces; root) ------------------------------------------------------------------
class _NetworkBase(_FaultBase, frozen=True, kw_only=True):
    @property
    def blast_target(self) -> BlastTarget:
        return BlastTarget.NETWORK

    @property
    def requires_root(self) -> bool:
        return True


class PartitionFault(_NetworkBase, tag="partition", frozen=True, kw_only=True):
    """Packets between the generator's and the service's namespaces are dropped."""

    @property
    def summary(self) -> str:
        return "network partition (drop) generator <-> service"


class RefuseFault(_NetworkBase, tag="refuse", frozen=True, kw_only=True):
    """Connections to the service are refused with a TCP reset."""

    @property
    def summary(self) -> str:
        return "refuse connections (TCP reset) to the service"


class LossFault(_NetworkBase, tag="loss", frozen=True, kw_only=True):
    """``percent`` of packets between generator and service are dropped (per packet)."""

    percent: Annotated[int, Meta(ge=1, le=100)]

    @property
    def summary(self) -> str:
        return f"packet loss {self.percent:g}% generator <-> service"


class NetworkBandwidthFault(_NetworkBase, tag="network_bandwidth", frozen=True, kw_only=True):
    """A token bucket (tc tbf) limits the link to ``rate_kbit_s`` (burst: the netns layer's)."""

    rate_kbit_s: Annotated[float, Meta(gt=0.0, le=100_000_000.0)]

    @property
    def summary(self) -> str:
        return f"link bandwidth {self.rate_kbit_s:g} kbit/s generator <-> service"


#: The fault proxy's toxics (Toxiproxy's kinds), each with ``target``, ``stream``, ``toxicity``.
ToxicSpec = (
    LatencyFault
    | BandwidthFault
    | SlowCloseFault
    | TimeoutFault
    | ResetPeerFault
    | SlicerFault
    | LimitDataFault
)
FaultSpec = (
    ToxicSpec
    | HttpFault
    | PauseFault
    | KillFault
    | CpuThrottleFault
    | CpuHogFault
    | MemoryFault
    | PartitionFault
    | RefuseFault
    | LossFault
    | NetworkBandwidthFault
)

#: Every ``kind`` a game day accepts, in the order of the union.
FAULT_KINDS: Final = tuple(str(k.__struct_config__.tag) for k in get_args(FaultSpec))
#: The kinds of :data:`ToxicSpec`.
TOXIC_KINDS: Final = tuple(str(k.__struct_config__.tag) for k in get_args(ToxicSpec))
