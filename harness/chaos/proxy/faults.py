"""The proxy's faults behind the :class:`~harness.chaos.fault.Fault` protocol, and toxic builders.

- :class:`ToxicFault`: one toxic (any :class:`~harness.chaos.proxy.model.ToxicKind`, the HTTP
  fault included) on one proxy. ``inject`` adds it, ``is_active`` asks the proxy whether a toxic
  of that name *with these exact values* is in place, ``rollback`` removes it.
- :class:`ProxyDownFault`: the proxy is disabled (listener closed, connections closed): a
  dependency outage, e.g. the feature store's Redis gone.

Both observe and act only through the control API. An unreachable proxy counts as "not active"
and makes ``rollback`` succeed: with the proxy process gone, its toxics are gone too. Their undo
entries hold the control URL and names, so after a SIGKILL of the harness the ledger sweep can
remove them (if the proxy outlived its parent at all; normally it exits within 0.2 s).

The builders (:func:`latency_toxic` ...) take unit-suffixed arguments and validate through the
same parser as the control API, so a bad value fails here, naming the field, before anything is
injected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from harness.chaos.fault import UndoEntry
from harness.chaos.proxy.client import ProxyClient, ProxyNotFound, ProxyUnreachable
from harness.chaos.proxy.model import (
    BandwidthAttrs,
    Distribution,
    HttpAttrs,
    LatencyAttrs,
    LimitDataAttrs,
    ResetPeerAttrs,
    SlicerAttrs,
    SlowCloseAttrs,
    Stream,
    TimeoutAttrs,
    Toxic,
    ToxicAttrs,
    ToxicKind,
    parse_toxic,
)
from harness.errors import FaultError, ProxyError
from harness.ledger import LedgerEntry, UndoStatus, register_undo

__all__ = [
    "PROXY_DOWN_KIND",
    "PROXY_TOXIC_KIND",
    "ProxyDownFault",
    "ToxicFault",
    "bandwidth_toxic",
    "describe",
    "http_fault_toxic",
    "latency_toxic",
    "limit_data_toxic",
    "reset_peer_toxic",
    "slicer_toxic",
    "slow_close_toxic",
    "timeout_toxic",
]

PROXY_TOXIC_KIND: Final = "chaos.proxy_toxic"
PROXY_DOWN_KIND: Final = "chaos.proxy_down"


# -- builders -------------------------------------------------------------------------------------
def _build(
    kind: ToxicKind,
    stream: Stream,
    toxicity: float,
    name: str | None,
    attributes: Mapping[str, object],
) -> Toxic:
    doc: dict[str, object] = {
        "type": kind.value,
        "stream": stream.value,
        "toxicity": toxicity,
        "attributes": dict(attributes),
    }
    if name is not None:
        doc["name"] = name
    return parse_toxic(doc, kind.value)


def latency_toxic(
    latency_ms: float,
    jitter_ms: float = 0.0,
    distribution: Distribution = Distribution.UNIFORM,
    *,
    stream: Stream = Stream.DOWNSTREAM,
    toxicity: float = 1.0,
    name: str | None = None,
) -> Toxic:
    """Delay every chunk by ``latency_ms`` with ``jitter_ms`` spread of ``distribution``."""
    attrs = {"latency": latency_ms, "jitter": jitter_ms, "distribution": distribution.value}
    return _build(ToxicKind.LATENCY, stream, toxicity, name, attrs)


def bandwidth_toxic(
    rate_kb_s: float, *, stream: Stream = Stream.DOWNSTREAM, toxicity: float = 1.0,
    name: str | None = None,
) -> Toxic:  # fmt: skip
    """Limit throughput to ``rate_kb_s`` (1 KB = 1,000 bytes)."""
    return _build(ToxicKind.BANDWIDTH, stream, toxicity, name, {"rate": rate_kb_s})


def slow_close_toxic(
    delay_ms: float, *, stream: Stream = Stream.DOWNSTREAM, toxicity: float = 1.0,
    name: str | None = None,
) -> Toxic:  # fmt: skip
    """Pass a close on only after ``delay_ms``."""
    return _build(ToxicKind.SLOW_CLOSE, stream, toxicity, name, {"delay": delay_ms})


def timeout_toxic(
    timeout_ms: float, *, stream: Stream = Stream.DOWNSTREAM, toxicity: float = 1.0,
    name: str | None = None,
) -> Toxic:  # fmt: skip
    """Swallow all data; close after ``timeout_ms`` (0: hold the connection forever)."""
    return _build(ToxicKind.TIMEOUT, stream, toxicity, name, {"timeout": timeout_ms})


def reset_peer_toxic(
    timeout_ms: float = 0.0, *, stream: Stream = Stream.DOWNSTREAM, toxicity: float = 1.0,
    name: str | None = None,
) -> Toxic:  # fmt: skip
    """Reset (TCP RST) every connection ``timeout_ms`` after the toxic reaches it."""
    return _build(ToxicKind.RESET_PEER, stream, toxicity, name, {"timeout": timeout_ms})


def slicer_toxic(
    average_size_bytes: int, size_variation_bytes: int = 0, delay_us: float = 0.0, *,
    stream: Stream = Stream.DOWNSTREAM, toxicity: float = 1.0, name: str | None = None,
) -> Toxic:  # fmt: skip
    """Cut data into slices of ``average_size_bytes +/- size_variation_bytes``, ``delay_us``
    apart."""
    attrs = {
        "average_size": average_size_bytes,
        "size_variation": size_variation_bytes,
        "delay": delay_us,
    }
    return _build(ToxicKind.SLICER, stream, toxicity, name, attrs)


def limit_data_toxic(
    limit_bytes: int, *, stream: Stream = Stream.DOWNSTREAM, toxicity: float = 1.0,
    name: str | None = None,
) -> Toxic:  # fmt: skip
    """Close the connection once ``limit_bytes`` have passed."""
    return _build(ToxicKind.LIMIT_DATA, stream, toxicity, name, {"bytes": limit_bytes})


def http_fault_toxic(
    *,
    error_rate: float = 0.0,
    error_code: int = 500,
    error_body: str | None = None,
    average_delay_ms: float = 0.0,
    delay_variation_ms: float = 0.0,
    exclude: Sequence[str] = (),
    toxicity: float = 1.0,
    name: str | None = None,
) -> Toxic:
    """xk6-disruptor's HTTP fault, decided per request (needs a proxy with protocol http)."""
    attrs: dict[str, object] = {
        "error_rate": error_rate,
        "error_code": error_code,
        "average_delay": average_delay_ms,
        "delay_variation": delay_variation_ms,
        "exclude": list(exclude),
    }
    if error_body is not None:
        attrs["error_body"] = error_body
    return _build(ToxicKind.HTTP, Stream.UPSTREAM, toxicity, name, attrs)


def _attrs_text(attrs: ToxicAttrs) -> str:
    if isinstance(attrs, LatencyAttrs):
        jitter = f" +/-{attrs.jitter_ms:g}ms {attrs.distribution.value}" if attrs.jitter_ms else ""
        return f"{attrs.latency_ms:g}ms{jitter}"
    if isinstance(attrs, BandwidthAttrs):
        return f"{attrs.rate_kb_s:g}KB/s"
    if isinstance(attrs, SlowCloseAttrs):
        return f"{attrs.delay_ms:g}ms"
    if isinstance(attrs, TimeoutAttrs | ResetPeerAttrs):
        return f"after {attrs.timeout_ms:g}ms"
    if isinstance(attrs, SlicerAttrs):
        return f"{attrs.average_size_bytes}B slices"
    if isinstance(attrs, LimitDataAttrs):
        return f"{attrs.limit_bytes}B"
    assert isinstance(attrs, HttpAttrs)
    return f"{attrs.error_rate:.1%} -> {attrs.error_code}, +{attrs.average_delay_ms:g}ms"


def describe(toxic: Toxic, proxy: str) -> str:
    """A short timeline label, e.g. ``latency 20ms downstream -> scorer``."""
    share = f" ({toxic.toxicity:.0%} of connections)" if toxic.toxicity < 1.0 else ""
    text = f"{toxic.kind.value} {_attrs_text(toxic.attrs)} {toxic.stream.value}{share}"
    return f"{text} -> {proxy}"


# -- faults -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ToxicFault:
    """One toxic on one proxy of the proxy process at ``control_url``; see the module docstring."""

    control_url: str
    proxy: str
    toxic: Toxic

    @property
    def name(self) -> str:
        return describe(self.toxic, self.proxy)

    def undo_entry(self) -> UndoEntry:
        undo: dict[str, object] = {
            "control_url": self.control_url,
            "proxy": self.proxy,
            "toxic": self.toxic.name,
        }
        return UndoEntry(PROXY_TOXIC_KIND, f"{self.proxy}/{self.toxic.name}", undo)

    def inject(self) -> None:
        with ProxyClient(self.control_url) as client:
            try:
                current = client.toxic(self.proxy, self.toxic.name)
                if current is None:
                    client.add_toxic(self.proxy, self.toxic)
                elif current != self.toxic:
                    raise FaultError(
                        f"{self.name}: proxy {self.proxy!r} already has a different toxic "
                        f"named {self.toxic.name!r}"
                    )
            except ProxyError as exc:
                raise FaultError(f"{self.name}: {exc}") from None

    def is_active(self) -> bool:
        with ProxyClient(self.control_url) as client:
            try:
                return client.toxic(self.proxy, self.toxic.name) == self.toxic
            except ProxyUnreachable:
                return False

    def rollback(self) -> None:
        with ProxyClient(self.control_url) as client:
            try:
                client.remove_toxic(self.proxy, self.toxic.name)
            except ProxyUnreachable:
                return  # the proxy process is gone, and its toxics with it
            except ProxyError as exc:
                raise FaultError(f"{self.name}: rollback: {exc}") from None


@dataclass(frozen=True, slots=True)
class ProxyDownFault:
    """Proxy ``proxy`` disabled: its listener and every connection through it closed."""

    control_url: str
    proxy: str

    @property
    def name(self) -> str:
        return f"down -> {self.proxy}"

    def undo_entry(self) -> UndoEntry:
        undo: dict[str, object] = {"control_url": self.control_url, "proxy": self.proxy}
        return UndoEntry(PROXY_DOWN_KIND, self.proxy, undo)

    def inject(self) -> None:
        with ProxyClient(self.control_url) as client:
            try:
                client.set_enabled(self.proxy, False)
            except ProxyError as exc:
                raise FaultError(f"{self.name}: {exc}") from None

    def is_active(self) -> bool:
        with ProxyClient(self.control_url) as client:
            try:
                return client.proxy(self.proxy).get("enabled") is False
            except ProxyUnreachable:
                return False

    def rollback(self) -> None:
        with ProxyClient(self.control_url) as client:
            try:
                client.set_enabled(self.proxy, True)
            except ProxyUnreachable:
                return
            except ProxyError as exc:
                raise FaultError(f"{self.name}: rollback: {exc}") from None


# -- ledger undo handlers --------------------------------------------------------------------------
def _undo_toxic(entry: LedgerEntry) -> UndoStatus:
    undo = entry.undo
    try:
        with ProxyClient(str(undo["control_url"])) as client:
            removed = client.remove_toxic(str(undo["proxy"]), str(undo["toxic"]))
    except ProxyUnreachable:
        return UndoStatus.ALREADY_GONE
    return UndoStatus.REMOVED if removed else UndoStatus.ALREADY_GONE


def _undo_down(entry: LedgerEntry) -> UndoStatus:
    undo = entry.undo
    try:
        with ProxyClient(str(undo["control_url"])) as client:
            was = client.proxy(str(undo["proxy"])).get("enabled")
            client.set_enabled(str(undo["proxy"]), True)
    except (ProxyUnreachable, ProxyNotFound):
        return UndoStatus.ALREADY_GONE
    return UndoStatus.ALREADY_GONE if was else UndoStatus.REMOVED


register_undo(PROXY_TOXIC_KIND, _undo_toxic)
register_undo(PROXY_DOWN_KIND, _undo_down)
