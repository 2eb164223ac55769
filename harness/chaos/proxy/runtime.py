"""The proxies of one proxy process: listeners, open connections, toxics, counters.

Runtime changes are applied in place: a toxic added, changed or removed is pushed to every open
connection (:meth:`Connection.refresh`), which keeps its sockets and its queued bytes. Disabling a
proxy is Toxiproxy's "down": the listener closes and every connection through it is closed;
enabling listens again on the same address.

``reset`` is Toxiproxy's ``/reset``: every proxy enabled, every toxic removed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from harness.chaos.proxy.connection import ClientSide, Connection
from harness.chaos.proxy.model import (
    Protocol,
    ProxyConfig,
    Toxic,
    split_hostport,
    toxic_to_json,
)
from harness.errors import ProxyError

__all__ = ["ProxyRegistry", "ProxyRuntime", "ProxyStats"]


@dataclass(slots=True)
class ProxyStats:
    """Counters since the proxy was created (what ``/proxies/{p}/stats`` returns)."""

    connections_total: int = 0
    upstream_errors: int = 0
    requests_total: int = 0  # HTTP proxies only
    requests_delayed: int = 0
    requests_aborted: int = 0


class ProxyRuntime:
    """One listening proxy; see the module docstring."""

    def __init__(self, config: ProxyConfig, seed: int) -> None:
        self.name = config.name
        self.seed = seed
        self.protocol: Protocol = config.protocol
        self.listen = split_hostport(config.listen, "listen")
        self.upstream = split_hostport(config.upstream, "upstream")
        self.enabled = False
        self.toxics: list[Toxic] = []
        self.stats = ProxyStats()
        self._conns: set[Connection] = set()
        self._server: asyncio.Server | None = None

    # -- listening ------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen (on the configured port, or a free one for port 0, kept from then on)."""
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        host, port = self.listen
        try:
            self._server = await loop.create_server(
                lambda: ClientSide(self), host, port, backlog=1024, reuse_address=True
            )
        except OSError as exc:
            raise ProxyError(f"proxy {self.name}: cannot listen on {host}:{port}: {exc}") from None
        bound_port = self._server.sockets[0].getsockname()[1]
        self.listen = (host, int(bound_port))
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening and close every open connection."""
        server, self._server = self._server, None
        self.enabled = False
        if server is not None:
            server.close()
        for conn in list(self._conns):
            conn.close()
        if server is not None:
            await server.wait_closed()

    async def set_enabled(self, enabled: bool) -> None:
        if enabled:
            await self.start()
        else:
            await self.stop()

    # -- connections ----------------------------------------------------------------------
    def track(self, client: asyncio.Transport) -> Connection:
        self.stats.connections_total += 1
        conn = Connection(self, self.stats.connections_total, client)
        self._conns.add(conn)
        return conn

    def untrack(self, conn: Connection) -> None:
        self._conns.discard(conn)

    @property
    def open_connections(self) -> int:
        return len(self._conns)

    # -- toxics ---------------------------------------------------------------------------
    def toxic(self, name: str) -> Toxic:
        for toxic in self.toxics:
            if toxic.name == name:
                return toxic
        raise KeyError(name)

    def put_toxic(self, toxic: Toxic, *, replace: bool) -> None:
        """Add ``toxic`` (or, with ``replace``, change the one of that name) on every connection."""
        for index, existing in enumerate(self.toxics):
            if existing.name == toxic.name:
                if not replace:
                    raise KeyError(toxic.name)
                self.toxics[index] = toxic
                break
        else:
            self.toxics.append(toxic)
        self._changed()

    def remove_toxic(self, name: str) -> None:
        self.toxic(name)  # KeyError when absent
        self.toxics = [t for t in self.toxics if t.name != name]
        self._changed()

    def clear_toxics(self) -> None:
        self.toxics = []
        self._changed()

    def _changed(self) -> None:
        for conn in list(self._conns):
            conn.refresh()

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": f"{self.listen[0]}:{self.listen[1]}",
            "upstream": f"{self.upstream[0]}:{self.upstream[1]}",
            "enabled": self.enabled,
            "protocol": self.protocol.value,
            "toxics": [toxic_to_json(t) for t in self.toxics],
        }

    def stats_json(self) -> dict[str, object]:
        return {**dataclasses.asdict(self.stats), "open": len(self._conns)}


class ProxyRegistry:
    """Every proxy of this process, by name."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.proxies: dict[str, ProxyRuntime] = {}

    def get(self, name: str) -> ProxyRuntime:
        try:
            return self.proxies[name]
        except KeyError:
            raise KeyError(name) from None

    async def create(self, config: ProxyConfig) -> ProxyRuntime:
        if config.name in self.proxies:
            raise KeyError(config.name)
        proxy = ProxyRuntime(config, self.seed)
        if config.enabled:
            await proxy.start()
        self.proxies[config.name] = proxy
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.proxies.pop(name)
        await proxy.stop()

    async def reset(self) -> None:
        """Toxiproxy's /reset: enable every proxy and remove every toxic."""
        for proxy in self.proxies.values():
            proxy.clear_toxics()
            await proxy.start()

    async def close(self) -> None:
        for proxy in list(self.proxies.values()):
            await proxy.stop()
