"""A small synchronous client of the proxy's control API (Toxiproxy's routes; see ``control``).

Every call is bounded by ``timeout_s``; a refusal by the proxy (4xx) becomes a
:class:`~harness.errors.ProxyError` carrying the proxy's message (which names the field), and
an unreachable proxy becomes :class:`ProxyUnreachable`, a ProxyError too, so a rollback can tell
"the proxy is gone, and the toxic with it" from "the proxy refused". The control URL must be
loopback (the proxy refuses other binds; the client refuses other URLs, e.g. from a tampered
ledger entry).
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import httpx

from harness.chaos.proxy.model import Toxic, parse_toxic, toxic_to_json
from harness.errors import ProxyError

__all__ = ["ProxyClient", "ProxyNotFound", "ProxyUnreachable"]


class ProxyUnreachable(ProxyError):
    """Nothing answers at the control URL (the proxy process is gone or not started)."""


class ProxyNotFound(ProxyError):
    """The proxy (or toxic) named does not exist in that proxy process."""


def _check_loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ProxyError(f"control URL {url!r}: expected http://127.0.0.1:PORT (loopback only)")
    return url.rstrip("/")


class ProxyClient:
    """Talks to one proxy process; usable as a context manager (closes its HTTP client)."""

    def __init__(self, control_url: str, *, timeout_s: float = 5.0) -> None:
        self.control_url = _check_loopback(control_url)
        self._http = httpx.Client(base_url=self.control_url, timeout=timeout_s, trust_env=False)

    def __enter__(self) -> ProxyClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- proxies --------------------------------------------------------------------------
    def version(self) -> str:
        return str(self._call("GET", "/version")["version"])

    def proxies(self) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = self._call("GET", "/proxies")
        return result

    def proxy(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/proxies/{name}")
        return result

    def create_proxy(
        self, name: str, upstream: str, *, listen: str = "127.0.0.1:0", protocol: str = "tcp"
    ) -> dict[str, Any]:
        """Create a proxy; returns its document (``listen`` has the bound port)."""
        doc = {"name": name, "listen": listen, "upstream": upstream, "protocol": protocol}
        result: dict[str, Any] = self._call("POST", "/proxies", doc)
        return result

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}")

    def set_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        """Bring a proxy down (listener and connections closed) or up again."""
        result: dict[str, Any] = self._call("POST", f"/proxies/{name}", {"enabled": enabled})
        return result

    def stats(self, name: str) -> dict[str, int]:
        result: dict[str, int] = self._call("GET", f"/proxies/{name}/stats")
        return result

    def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        self._call("POST", "/reset")

    # -- toxics ---------------------------------------------------------------------------
    def toxics(self, proxy: str) -> list[Toxic]:
        docs = self._call("GET", f"/proxies/{proxy}/toxics")
        return [parse_toxic(doc) for doc in docs]

    def toxic(self, proxy: str, name: str) -> Toxic | None:
        """The toxic, or None when the proxy has none of that name."""
        try:
            return parse_toxic(self._call("GET", f"/proxies/{proxy}/toxics/{name}"))
        except ProxyNotFound:
            return None

    def add_toxic(self, proxy: str, toxic: Toxic) -> Toxic:
        return parse_toxic(self._call("POST", f"/proxies/{proxy}/toxics", toxic_to_json(toxic)))

    def update_toxic(self, proxy: str, toxic: Toxic) -> Toxic:
        """Change a toxic in place (open connections keep going, with the new values)."""
        path = f"/proxies/{proxy}/toxics/{toxic.name}"
        return parse_toxic(self._call("POST", path, toxic_to_json(toxic)))

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """Remove a toxic; False when it was not there."""
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")
        except ProxyNotFound:
            return False
        return True

    # -- transport ------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: object = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ProxyUnreachable(
                f"fault proxy at {self.control_url}: {exc.__class__.__name__}"
            ) from None
        if response.status_code == 204:
            return None
        try:
            payload = response.json()
        except ValueError:
            payload = {"error": response.text[:200]}
        if response.status_code == 404:
            raise ProxyNotFound(str(payload.get("error", "not found")))
        if response.status_code >= 400:
            raise ProxyError(f"fault proxy refused {method} {path}: {payload.get('error')}")
        return payload
