"""The one target-resolution path: URL + allowlist + ``tls:`` -> a checked TargetConnection.

The CLI runner, the Locust plugin, every distributed worker and the readiness probe all go through
:func:`open_target`, so they agree on what is allowed (:mod:`harness.target.address`), on the
addresses to connect to (resolved once per process, every one checked), and on TLS
(:mod:`harness.target.tls`). A worker repeats the whole resolution and check on its own machine
before its first packet: a spec may come over the network from a master.

``tls:`` given with an ``http://`` target is refused (the settings would silently do nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import httpx

from harness.errors import SpecError
from harness.measure import ConnectionRecord
from harness.spec import TlsSpec
from harness.target.address import Allowlist, ResolvedTarget, resolve_target
from harness.target.tls import ClientTls, client_tls, tls_preflight

__all__ = ["TargetConnection", "open_target"]


@dataclass(frozen=True, slots=True)
class TargetConnection:
    """A checked target: addresses to connect to, TLS (None for http://), the allowlist."""

    target: ResolvedTarget
    tls: ClientTls | None
    allow: Allowlist

    @property
    def url(self) -> str:
        """The target URL as given (no trailing slash)."""
        return self.target.url

    @property
    def address(self) -> str:
        """The address load connects to (the first the host resolved to)."""
        return self.target.addresses[0]

    def record(self) -> ConnectionRecord:
        """What provenance records about this connection."""
        return ConnectionRecord(
            scheme=self.target.scheme,
            addresses=self.target.addresses,
            allowlist=self.allow.describe(),
            tls=None if self.tls is None else self.tls.record,
        )

    def preflight(self, timeout_s: float = 5.0) -> TargetConnection:
        """For https: one handshake before any load, failures explained (see ``tls_preflight``)."""
        if self.tls is None:
            return self
        return replace(self, tls=tls_preflight(self.target, self.tls, timeout_s))

    def http_client(self, timeout_s: float) -> httpx.Client:
        """An httpx client for probes: to the checked address, with the URL's Host and SNI."""
        target = self.target
        literal = f"[{self.address}]" if ":" in self.address else self.address
        base = f"{target.scheme}://{literal}:{target.port}{target.base_path}"
        # http: no TLS, so no certificate store to load (building one blocks a gevent hub ~ms)
        verify: Any = self.tls.context if self.tls is not None else False
        transport = _PinnedTransport(
            self.tls.server_name if self.tls is not None else None, verify=verify
        )
        return httpx.Client(
            base_url=base,
            headers={"Host": target.host_header},
            timeout=timeout_s,
            trust_env=False,
            transport=transport,
        )


class _PinnedTransport(httpx.HTTPTransport):
    """Sends every request's TLS server name (SNI + verified name) as ``sni_hostname``: the URL
    carries the checked address, never the name (so httpx does not resolve it again)."""

    def __init__(self, server_name: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._server_name = server_name

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._server_name is not None:
            request.extensions = {**request.extensions, "sni_hostname": self._server_name}
        return super().handle_request(request)


def open_target(
    url: str,
    *,
    tls: TlsSpec | None = None,
    allow: Allowlist | None = None,
    file: str = "<scenario>",
) -> TargetConnection:
    """Resolve and check ``url`` (UsageError when not allowed) and build its TLS client context
    (SpecError at ``$.tls...`` when a file cannot be used). Sends nothing."""
    allow = allow or Allowlist()
    target = resolve_target(url, allow)
    if not target.tls:
        if tls is not None:
            raise SpecError(
                file,
                "$.tls",
                f"an https:// target (the target {target.url} is plain http://, so the tls: "
                "settings would do nothing); remove tls: or use https://",
            )
        return TargetConnection(target, None, allow)
    return TargetConnection(target, client_tls(tls, target.host, file=file), allow)
