"""The fault proxy's configuration: proxies and toxics, as Toxiproxy spells them on the wire.

Why Toxiproxy's JSON: SREs know its toxics, field names and API, and its clients and docs then map
one to one. The wire names stay Toxiproxy's (``latency``, ``jitter``, ``rate``...); the Python
attributes carry their units (``latency_ms``, ``rate_kb_s``...) through msgspec field renames, so
code reads with units and the JSON reads like Toxiproxy.

Toxic kinds and their attributes (units; Toxiproxy's semantics unless said otherwise):

- ``latency``: ``latency`` ms, ``jitter`` ms, ``distribution`` (our addition, as netem/Pumba):
  ``uniform`` (latency +/- jitter, Toxiproxy's behaviour), ``normal``, ``pareto``,
  ``paretonormal`` (jitter is the standard deviation there); every chunk is delayed.
- ``bandwidth``: ``rate`` KB/s (1 KB = 1,000 bytes, as Toxiproxy).
- ``slow_close``: ``delay`` ms before a close is passed on.
- ``timeout``: ``timeout`` ms; data is dropped and the connection closed after the timeout;
  0 holds it forever (until the toxic is removed).
- ``reset_peer``: ``timeout`` ms, then both sides get a TCP RST.
- ``slicer``: ``average_size`` bytes, ``size_variation`` bytes, ``delay`` us between slices.
- ``limit_data``: ``bytes``; the connection is closed once that many have passed.
- ``http`` (ours; xk6-disruptor's fields): ``average_delay`` ms, ``delay_variation`` ms,
  ``error_rate`` (0-1), ``error_code``, ``error_body``, ``exclude`` (exact paths, query ignored).
  Decided per *request*; upstream only; needs a proxy with protocol ``http``.

Every toxic has ``name`` (default ``<type>_<stream>``), ``stream`` (``upstream``: client to
server; ``downstream``, the default: server to client) and ``toxicity`` (0-1, drawn once per
connection and toxic, as Toxiproxy). Validation errors name the field path and what was expected.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Annotated, Any, Final

import msgspec

from harness.errors import ProxyError

__all__ = [
    "ALLOWED_NETWORK",
    "BandwidthAttrs",
    "Distribution",
    "HttpAttrs",
    "LatencyAttrs",
    "LimitDataAttrs",
    "Protocol",
    "ProxyConfig",
    "ResetPeerAttrs",
    "SlicerAttrs",
    "SlowCloseAttrs",
    "Stream",
    "TimeoutAttrs",
    "Toxic",
    "ToxicAttrs",
    "ToxicKind",
    "check_address",
    "parse_proxy",
    "parse_toxic",
    "split_hostport",
    "toxic_to_json",
]

#: RFC 2544 benchmarking range the project's network namespaces use (as harness.target).
ALLOWED_NETWORK: Final = ipaddress.ip_network("198.18.0.0/15")
_MAX_MS: Final = 3_600_000.0  # an hour: anything longer is a typo, not a fault
_MAX_BODY_BYTES: Final = 4096


class Stream(enum.Enum):
    """Which direction a toxic acts on."""

    UPSTREAM = "upstream"  # client -> server
    DOWNSTREAM = "downstream"  # server -> client


class ToxicKind(enum.Enum):
    """The toxics the proxy knows (Toxiproxy's type names, plus ``http``)."""

    LATENCY = "latency"
    BANDWIDTH = "bandwidth"
    SLOW_CLOSE = "slow_close"
    TIMEOUT = "timeout"
    RESET_PEER = "reset_peer"
    SLICER = "slicer"
    LIMIT_DATA = "limit_data"
    HTTP = "http"


class Distribution(enum.Enum):
    """Shape of the latency jitter (netem's tables, as Pumba exposes them)."""

    UNIFORM = "uniform"
    NORMAL = "normal"
    PARETO = "pareto"
    PARETONORMAL = "paretonormal"


class Protocol(enum.Enum):
    """What a proxy understands of its bytes: ``http`` frames requests (needed by ``http``)."""

    TCP = "tcp"
    HTTP = "http"


_Ms = Annotated[float, msgspec.Meta(ge=0, le=_MAX_MS)]


class _Attrs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class LatencyAttrs(_Attrs, frozen=True):
    latency_ms: _Ms = msgspec.field(default=0.0, name="latency")
    jitter_ms: _Ms = msgspec.field(default=0.0, name="jitter")
    distribution: Distribution = Distribution.UNIFORM


class BandwidthAttrs(_Attrs, frozen=True):
    rate_kb_s: Annotated[float, msgspec.Meta(gt=0)] = msgspec.field(default=1000.0, name="rate")


class SlowCloseAttrs(_Attrs, frozen=True):
    delay_ms: _Ms = msgspec.field(default=0.0, name="delay")


class TimeoutAttrs(_Attrs, frozen=True):
    timeout_ms: _Ms = msgspec.field(default=0.0, name="timeout")  # 0 = hold forever


class ResetPeerAttrs(_Attrs, frozen=True):
    timeout_ms: _Ms = msgspec.field(default=0.0, name="timeout")


class SlicerAttrs(_Attrs, frozen=True):
    average_size_bytes: Annotated[int, msgspec.Meta(ge=1)] = msgspec.field(
        default=64, name="average_size"
    )
    size_variation_bytes: Annotated[int, msgspec.Meta(ge=0)] = msgspec.field(
        default=0, name="size_variation"
    )
    delay_us: Annotated[float, msgspec.Meta(ge=0, le=_MAX_MS * 1000)] = msgspec.field(
        default=0.0, name="delay"
    )


class LimitDataAttrs(_Attrs, frozen=True):
    limit_bytes: Annotated[int, msgspec.Meta(ge=0)] = msgspec.field(default=0, name="bytes")


class HttpAttrs(_Attrs, frozen=True):
    average_delay_ms: _Ms = msgspec.field(default=0.0, name="average_delay")
    delay_variation_ms: _Ms = msgspec.field(default=0.0, name="delay_variation")
    error_rate: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0
    error_code: Annotated[int, msgspec.Meta(ge=100, le=599)] = 500
    error_body: Annotated[str, msgspec.Meta(max_length=_MAX_BODY_BYTES)] = (
        '{"error":"fault injected by slo-harness"}'
    )
    exclude: tuple[str, ...] = ()


ToxicAttrs = (
    LatencyAttrs
    | BandwidthAttrs
    | SlowCloseAttrs
    | TimeoutAttrs
    | ResetPeerAttrs
    | SlicerAttrs
    | LimitDataAttrs
    | HttpAttrs
)

_ATTRS: Final[dict[ToxicKind, type[_Attrs]]] = {
    ToxicKind.LATENCY: LatencyAttrs,
    ToxicKind.BANDWIDTH: BandwidthAttrs,
    ToxicKind.SLOW_CLOSE: SlowCloseAttrs,
    ToxicKind.TIMEOUT: TimeoutAttrs,
    ToxicKind.RESET_PEER: ResetPeerAttrs,
    ToxicKind.SLICER: SlicerAttrs,
    ToxicKind.LIMIT_DATA: LimitDataAttrs,
    ToxicKind.HTTP: HttpAttrs,
}


class Toxic(msgspec.Struct, frozen=True):
    """One validated toxic; build it with :func:`parse_toxic` or the builders in ``faults``."""

    name: str
    kind: ToxicKind
    stream: Stream
    toxicity: float
    attrs: ToxicAttrs


class _ToxicDoc(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: ToxicKind
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\w.-]+$")] | None = (
        None
    )
    stream: Stream = Stream.DOWNSTREAM
    toxicity: Annotated[float, msgspec.Meta(ge=0, le=1)] = 1.0
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


def _error(where: str, exc: msgspec.ValidationError | msgspec.DecodeError) -> ProxyError:
    # msgspec says "Expected `float` >= 0 - at `$.latency`"; re-root the path at ``where``.
    text = str(exc)
    message, sep, path = text.rpartition(" - at `$")
    if sep:
        return ProxyError(f"{where}{path.rstrip('`')}: {message}")
    return ProxyError(f"{where}: {text}")


def parse_toxic(doc: object, where: str = "$") -> Toxic:
    """Validate a Toxiproxy-style toxic document (a JSON-decoded dict or raw JSON bytes)."""
    try:
        if isinstance(doc, bytes | str):
            raw = msgspec.json.decode(doc, type=_ToxicDoc)
        else:
            raw = msgspec.convert(doc, type=_ToxicDoc)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _error(where, exc) from None
    try:
        attrs = msgspec.convert(raw.attributes, type=_ATTRS[raw.type])
    except msgspec.ValidationError as exc:
        raise _error(f"{where}.attributes", exc) from None
    if raw.type is ToxicKind.HTTP and raw.stream is not Stream.UPSTREAM:
        raise ProxyError(f"{where}.stream: an http toxic acts on requests; expected 'upstream'")
    name = raw.name or f"{raw.type.value}_{raw.stream.value}"
    return Toxic(name, raw.type, raw.stream, raw.toxicity, attrs)  # type: ignore[arg-type]


def toxic_to_json(toxic: Toxic) -> dict[str, object]:
    """The Toxiproxy-shaped document of ``toxic`` (what the control API returns)."""
    return {
        "name": toxic.name,
        "type": toxic.kind.value,
        "stream": toxic.stream.value,
        "toxicity": toxic.toxicity,
        "attributes": msgspec.to_builtins(toxic.attrs),
    }


# -- proxies ------------------------------------------------------------------------------------
class ProxyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A proxy as POSTed to ``/proxies``: ``listen`` and ``upstream`` are ``host:port``."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\w.-]+$")]
    listen: str
    upstream: str
    enabled: bool = True
    protocol: Protocol = Protocol.TCP


def split_hostport(value: str, where: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` / ``"[::1]:80"`` -> (host, port); ProxyError naming ``where``."""
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ProxyError(f"{where}: {value!r}: expected host:port, e.g. 127.0.0.1:8080")
    return host, int(port_text)


def check_address(host: str, where: str, *, loopback_only: bool = False) -> None:
    """Refuse anything but loopback (and, unless ``loopback_only``, 198.18.0.0/15)."""
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ProxyError(
            f"{where}: {host!r}: expected an IP address (names are not resolved)"
        ) from None
    if address.is_loopback:
        return
    if not loopback_only and address.version == 4 and address in ALLOWED_NETWORK:
        return
    allowed = "loopback" if loopback_only else "loopback or 198.18.0.0/15"
    raise ProxyError(f"{where}: {host}: refused, only {allowed} addresses are allowed")


def parse_proxy(doc: object, where: str = "$") -> ProxyConfig:
    """Validate a proxy document, including the address rule for ``listen`` and ``upstream``."""
    try:
        config = msgspec.convert(doc, type=ProxyConfig)
    except msgspec.ValidationError as exc:
        raise _error(where, exc) from None
    for field in ("listen", "upstream"):
        host, _port = split_hostport(getattr(config, field), f"{where}.{field}")
        check_address(host, f"{where}.{field}")
    return config
