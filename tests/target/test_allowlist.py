"""Where load may go: the default rule, explicit --allow-target / allow: entries, host names
resolved once with every address checked. No traffic: name resolution is faked here."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from harness.errors import UsageError
from harness.spec import check_allow_entry
from harness.target import Allowlist, resolve_target


def _fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str]]) -> list[str]:
    """Answer getaddrinfo from ``table``; return the list of names looked up."""
    asked: list[str] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for addr in table[host]:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sockaddr = (addr, port, 0, 0) if family == socket.AF_INET6 else (addr, port)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("10.20.0.0/16", "10.20.0.0/16"),
        ("10.1.2.3", "10.1.2.3/32"),
        ("2001:db8::/48", "2001:db8::/48"),
        ("Scoring.Staging.Internal.", "scoring.staging.internal"),
    ],
)
def test_allow_entries_are_normalised(text: str, normal: str) -> None:
    """Networks in canonical form, single addresses as /32, host names lower-cased."""
    assert check_allow_entry(text) == normal


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0.0.0.0/0", "/8 or narrower"),
        ("10.0.0.0/7", "/8 or narrower"),
        ("::/0", "/32 or narrower"),
        ("10.1.2.3/8", "has host bits set"),
        ("300.1.1.1", "IP address"),
        ("bad_name!", "host name"),
    ],
)
def test_bad_or_too_wide_allow_entries_are_refused(text: str, why: str) -> None:
    """A typo or a network wider than /8 (IPv4) or /32 (IPv6) is refused, saying why."""
    with pytest.raises(ValueError, match=why):
        check_allow_entry(text)


def test_a_bad_allow_target_flag_names_the_flag() -> None:
    """--allow-target with a bad value is a usage error naming the flag and the value."""
    with pytest.raises(UsageError, match=r"^--allow-target 0\.0\.0\.0/0: expected"):
        Allowlist.build(["0.0.0.0/0"])


def test_an_address_outside_the_default_is_refused_with_the_way_to_allow_it() -> None:
    """The refusal says where load may go and how to allow the address explicitly."""
    with pytest.raises(UsageError) as caught:
        resolve_target("https://10.1.2.3:8443")
    message = str(caught.value)
    assert "10.1.2.3 is not an allowed load target" in message
    assert "--allow-target 10.1.2.3" in message
    assert "allow: list" in message
    assert "198.18.0.0/15" in message


def test_an_address_inside_an_allowed_network_passes_and_the_rule_is_recorded() -> None:
    """A CIDR from the command line allows addresses inside it, and the record names its source."""
    allow = Allowlist.build(["10.20.0.0/16"], ["192.0.2.7"], "s.yaml")
    target = resolve_target("https://10.20.3.4:8443/api", allow)
    assert target.addresses == ("10.20.3.4",)
    assert target.rules == ("10.20.0.0/16 (--allow-target)",)
    assert target.port == 8443
    assert target.base_path == "/api"
    assert target.tls
    assert resolve_target("http://192.0.2.7", allow).rules == ("192.0.2.7/32 (s.yaml: $.allow[0])",)
    assert allow.describe()[0].endswith("(default)")
    assert "10.20.0.0/16 (--allow-target)" in allow.describe()


def test_a_host_name_nothing_could_allow_is_refused_without_a_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no entry naming it (and no network to check it against) a name is never resolved."""
    asked = _fake_dns(monkeypatch, {"scoring.internal": ["127.0.0.1"]})
    with pytest.raises(UsageError, match=r"--allow-target scoring\.internal"):
        resolve_target("https://scoring.internal:8443")
    assert asked == []


def test_a_named_host_is_resolved_once_and_connected_by_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A host allowed by name resolves once; load connects to those addresses, Host stays."""
    asked = _fake_dns(monkeypatch, {"scoring.internal": ["10.9.8.7", "10.9.8.8"]})
    allow = Allowlist.build(["Scoring.Internal"])
    target = resolve_target("https://scoring.internal:8443", allow)
    assert asked == ["scoring.internal"]
    assert target.addresses == ("10.9.8.7", "10.9.8.8")
    assert target.host_header == "scoring.internal:8443"
    assert all(r == "scoring.internal (--allow-target)" for r in target.rules)


def test_every_resolved_address_must_be_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name allowed through a network but also resolving outside it is refused, naming it."""
    _fake_dns(monkeypatch, {"scoring.internal": ["10.20.0.5", "203.0.113.9"]})
    allow = Allowlist.build(["10.20.0.0/16"])
    with pytest.raises(UsageError, match=r"203\.0\.113\.9 is not .*resolves to 203\.0\.113\.9"):
        resolve_target("http://scoring.internal", allow)


def test_localhost_and_mapped_loopback_follow_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """localhost is resolved (to loopback); an IPv4-mapped loopback counts as loopback."""
    _fake_dns(monkeypatch, {"localhost": ["::1", "127.0.0.1"]})
    assert resolve_target("http://localhost:1").addresses == ("::1", "127.0.0.1")
    assert resolve_target("http://[::ffff:127.0.0.1]:1").rules == ("loopback (default)",)
    _fake_dns(monkeypatch, {"localhost": ["10.0.0.1"]})  # a poisoned hosts file
    with pytest.raises(UsageError, match=r"10\.0\.0\.1 is not an allowed"):
        resolve_target("http://localhost:1")


def test_a_name_that_does_not_resolve_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An allowed name without an address is exit 2 with the name, not a connect timeout."""
    _fake_dns(monkeypatch, {})
    with pytest.raises(UsageError, match=r"'nowhere\.internal' does not resolve"):
        resolve_target("http://nowhere.internal", Allowlist.build(["nowhere.internal"]))


def test_the_allowlist_travels_to_workers_intact() -> None:
    """The RunSpec carries the allowlist over msgpack builtins and back unchanged."""
    import msgspec

    allow = Allowlist.build(["10.20.0.0/16", "scoring.internal"], ["198.51.100.0/24"], "s.yaml")
    assert msgspec.convert(msgspec.to_builtins(allow), Allowlist) == allow
