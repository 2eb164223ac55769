"""Where load may go: the target-address rule every sender checks before its first packet.

By default load goes only to loopback or to the 198.18.0.0/15 benchmarking range (RFC 2544) that
the project's own network namespaces use. Any other host or network is allowed only when the user
names it explicitly: ``--allow-target HOST|CIDR`` on the command line (repeatable) or the
scenario's ``allow:`` list (:class:`Allowlist`).

:func:`resolve_target` is the one target-resolution path of the CLI runner, the Locust plugin and
every distributed worker. Invariants:

- ``http://`` and ``https://`` only (the lean client speaks HTTP/1.1, in the clear or over TLS);
- a host name is resolved **once** (``getaddrinfo``); **every** address it resolves to must be
  allowed (a name that also resolves somewhere else is refused), and the sender connects to those
  checked addresses, never to the name again, so DNS cannot move the load after the check;
- a host name is looked up only when something could allow it (``localhost``, the name itself
  on the list, or a network on the list); otherwise it is refused without a DNS query;
- an address is allowed when it is loopback (an IPv4-mapped IPv6 address counts as its IPv4
  address), inside 198.18.0.0/15, inside a CIDR entry, or one of the addresses of a host name
  entry that equals the target's host;
- the check happens before the first packet of load; a refusal is a ``UsageError`` (exit 2)
  whose message says how to allow the address explicitly.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

import msgspec

from harness.errors import UsageError
from harness.spec import check_allow_entry

__all__ = [
    "ALLOWED_NETWORK",
    "DEFAULT_RULE",
    "AllowEntry",
    "Allowlist",
    "ResolvedTarget",
    "check_target_allowed",
    "resolve_target",
]

#: RFC 2544 benchmarking range; the project's network namespaces live here.
ALLOWED_NETWORK: Final = ipaddress.ip_network("198.18.0.0/15")
DEFAULT_RULE: Final = "loopback (127.0.0.0/8, ::1) and the lab range 198.18.0.0/15"
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AllowEntry(msgspec.Struct, frozen=True):
    """One explicit allowance: a host name or a network, and where it was given."""

    value: str  # normalised: a CIDR network (``10.0.0.0/8``, ``10.1.2.3/32``) or a host name
    source: str  # ``--allow-target`` or ``<scenario file>: $.allow[i]``

    def __str__(self) -> str:
        return f"{self.value} ({self.source})"


class Allowlist(msgspec.Struct, frozen=True):
    """The explicit allowances on top of the default rule; travels to workers in the RunSpec."""

    entries: tuple[AllowEntry, ...] = ()

    @classmethod
    def build(
        cls, cli: Sequence[str] = (), scenario: Sequence[str] = (), file: str = "<scenario>"
    ) -> Allowlist:
        """Entries from ``--allow-target`` values and a scenario's ``allow:`` list; a bad
        ``--allow-target`` is a UsageError naming the flag (scenario entries were checked when
        the file was loaded)."""
        entries: list[AllowEntry] = []
        for text in cli:
            try:
                value = check_allow_entry(text)
            except ValueError as exc:
                raise UsageError(f"--allow-target {text}: expected {exc}") from None
            entries.append(AllowEntry(value, "--allow-target"))
        for i, text in enumerate(scenario):
            try:
                value = check_allow_entry(text)
            except ValueError as exc:
                raise UsageError(f"{file}: $.allow[{i}]: expected {exc}") from None
            entries.append(AllowEntry(value, f"{file}: $.allow[{i}]"))
        return cls(tuple(entries))

    def describe(self) -> tuple[str, ...]:
        """The allowlist as recorded in provenance: the default rule, then every entry."""
        return (f"{DEFAULT_RULE} (default)", *(str(e) for e in self.entries))

    def may_resolve(self, host: str) -> bool:
        """Whether looking ``host`` up is worth a DNS query: a literal address, ``localhost``,
        a name on the list, or any network on the list (its addresses may fall inside). A name
        nothing could allow is refused without a lookup."""
        name = host.rstrip(".").lower()
        if name == "localhost":
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return True
        return any("/" in e.value or e.value == name for e in self.entries)

    def rule_for(self, host: str, address: IPAddress) -> str | None:
        """Which rule allows ``address`` (of target host ``host``), or None."""
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address.is_loopback:
            return "loopback (default)"
        if address.version == 4 and address in ALLOWED_NETWORK:
            return "198.18.0.0/15 (default)"
        name = host.rstrip(".").lower()
        for entry in self.entries:
            if "/" in entry.value:
                if address in ipaddress.ip_network(entry.value):
                    return str(entry)
            elif entry.value == name:
                return str(entry)
        return None


class ResolvedTarget(msgspec.Struct, frozen=True, kw_only=True):
    """A checked target: where to connect (``addresses``) and what to say (Host, SNI)."""

    url: str  # as given, without a trailing slash
    scheme: str  # http | https
    host: str  # the URL's host (a name or a literal address)
    port: int
    host_header: str  # the URL's netloc without credentials
    base_path: str  # the URL's path without a trailing slash ("" for none)
    addresses: tuple[str, ...]  # every address the host resolved to, all allowed, in order
    rules: tuple[str, ...]  # the rule that allowed each address

    @property
    def tls(self) -> bool:
        """True for ``https://``."""
        return self.scheme == "https"


def _split(url: str) -> tuple[str, str, int, str, str]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        raise UsageError(f"target {url!r}: not a valid URL ({exc})") from None
    if parts.scheme not in _DEFAULT_PORTS or not host:
        raise UsageError(
            f"target {url!r}: expected an http:// or https:// URL such as http://127.0.0.1:8080 "
            "(the generator speaks HTTP/1.1, in the clear or over TLS)"
        )
    header = parts.netloc.rsplit("@", 1)[-1]
    return parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], header, parts.path


def _resolve(url: str, host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"target {url!r}: host name {host!r} does not resolve ({exc})") from None
    seen: dict[IPAddress, None] = {}
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    if not seen:
        raise UsageError(f"target {url!r}: host name {host!r} has no IPv4/IPv6 address")
    return tuple(seen)


def resolve_target(url: str, allow: Allowlist | None = None) -> ResolvedTarget:
    """Parse ``url``, resolve its host once and check every address (see the module docstring).

    Raises UsageError for a bad URL, a name that does not resolve, or any address not allowed.
    """
    allow = allow or Allowlist()
    scheme, host, port, header, path = _split(url)
    if not allow.may_resolve(host):
        raise UsageError(
            f"target {url!r}: the host name {host!r} is not an allowed load target. Load goes "
            f"only to {DEFAULT_RULE}, or to a host or network named explicitly: "
            f"--allow-target {host} (a host name, an address or a CIDR network; repeatable) or "
            "the scenario's allow: list"
        )
    addresses = _resolve(url, host, port)
    rules: list[str] = []
    refused: list[str] = []
    for address in addresses:
        rule = allow.rule_for(host, address)
        if rule is None:
            refused.append(str(address))
        else:
            rules.append(rule)
    if refused:
        via = "" if refused == [host] else f" ({host} resolves to {', '.join(refused)})"
        raise UsageError(
            f"target {url!r}: {', '.join(refused)} is not an allowed load target{via}. Load goes "
            f"only to {DEFAULT_RULE}, or to a host or network named explicitly: "
            f"--allow-target {host} (a host name, an address or a CIDR network; repeatable) or "
            "the scenario's allow: list"
        )
    return ResolvedTarget(
        url=url.rstrip("/"),
        scheme=scheme,
        host=host,
        port=port,
        host_header=header,
        base_path=path.rstrip("/"),
        addresses=tuple(str(a) for a in addresses),
        rules=tuple(rules),
    )


def check_target_allowed(url: str, allow: Allowlist | None = None) -> ResolvedTarget:
    """:func:`resolve_target` under its historical name (raises UsageError when not allowed)."""
    return resolve_target(url, allow)
