"""The checks the Kubernetes API server makes on a NetworkPolicy that the OpenAPI schema misses.

kubernetes-validate (strict) checks shapes and types; ``kubectl apply`` would still be refused for
the rules below (``ValidateNetworkPolicySpec`` and friends in the API server), so a pull request
must fail here first rather than at deploy time:

- ``endPort`` needs a numeric ``port`` and ``endPort >= port``; ports are 1-65535 or an IANA
  service name (lower case, at most 15 characters, a letter, no leading/trailing/double hyphen);
- ``protocol`` is TCP, UDP or SCTP;
- a peer has at least one of podSelector/namespaceSelector/ipBlock, and ipBlock stands alone;
- ``cidr`` and each ``except`` are CIDRs of one family and each ``except`` is strictly inside
  ``cidr``;
- ``policyTypes`` holds only ``Ingress``/``Egress`` (spelled exactly so), at most once each;
- label selectors: In/NotIn need values, Exists/DoesNotExist take none; label keys and values
  have the syntax the API server accepts.

Every check yields ``(field path, expected)``; the loader adds file and document index. Pure: no
I/O, works on the parsed YAML of one document.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = ["check_container_ports", "check_network_policy", "is_port_name"]

Problem = tuple[str, str]

_PROTOCOLS: Final = ("TCP", "UDP", "SCTP")
_POLICY_TYPES: Final = ("Ingress", "Egress")
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def is_port_name(name: str) -> bool:
    """IANA_SVC_NAME as the API server checks it."""
    return (
        bool(_PORT_NAME.match(name))
        and "--" not in name
        and any(c.isalpha() for c in name)
        and len(name) <= 15
    )


def check_network_policy(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """Every API-server problem of one NetworkPolicy document (already schema-valid)."""
    spec = doc.get("spec") or {}
    yield from _selector(spec.get("podSelector"), "$.spec.podSelector")
    yield from _policy_types(spec.get("policyTypes"))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            base = f"$.spec.{direction}[{i}]"
            for j, peer in enumerate((rule or {}).get(peers_key) or []):
                yield from _peer(peer or {}, f"{base}.{peers_key}[{j}]")
            for j, port in enumerate((rule or {}).get("ports") or []):
                yield from _port(port or {}, f"{base}.ports[{j}]")


def check_container_ports(pod_spec: Mapping[str, Any], base: str) -> Iterator[Problem]:
    """Container port names and protocols of a pod spec (named ports must be IANA names)."""
    for group in ("containers", "initContainers"):
        for i, container in enumerate(pod_spec.get(group) or []):
            for j, port in enumerate((container or {}).get("ports") or []):
                path = f"{base}.{group}[{i}].ports[{j}]"
                name = (port or {}).get("name")
                if name is not None and not is_port_name(str(name)):
                    yield f"{path}.name", f"an IANA service name (got {name!r})"
                protocol = (port or {}).get("protocol", "TCP")
                if protocol not in _PROTOCOLS:
                    yield f"{path}.protocol", f"one of TCP, UDP, SCTP (got {protocol!r})"


def _policy_types(types: Any) -> Iterator[Problem]:
    if types is None:
        return
    seen: set[str] = set()
    for i, value in enumerate(types):
        if value not in _POLICY_TYPES:
            yield f"$.spec.policyTypes[{i}]", f"Ingress or Egress, spelled so (got {value!r})"
        elif value in seen:
            yield f"$.spec.policyTypes[{i}]", f"each policy type once ({value!r} repeated)"
        seen.add(value)


def _peer(peer: Mapping[str, Any], path: str) -> Iterator[Problem]:
    present = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if k in peer]
    if not present:
        yield path, "one of podSelector, namespaceSelector or ipBlock"
        return
    if "ipBlock" in peer and len(present) > 1:
        others = " and ".join(k for k in present if k != "ipBlock")
        yield path, f"ipBlock alone in its peer (it is combined with {others})"
    for key in ("podSelector", "namespaceSelector"):
        if key in peer:
            yield from _selector(peer[key], f"{path}.{key}")
    if "ipBlock" in peer:
        yield from _ip_block(peer["ipBlock"] or {}, f"{path}.ipBlock")


def _ip_block(block: Mapping[str, Any], path: str) -> Iterator[Problem]:
    try:
        network = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
    except ValueError:
        yield f"{path}.cidr", f"a CIDR such as 10.0.0.0/8 (got {block.get('cidr')!r})"
        return
    for i, text in enumerate(block.get("except") or []):
        where = f"{path}.except[{i}]"
        try:
            inner = ipaddress.ip_network(str(text), strict=False)
        except ValueError:
            yield where, f"a CIDR (got {text!r})"
            continue
        if inner.version != network.version or not inner.subnet_of(network):  # type: ignore[arg-type]
            yield where, f"a CIDR inside cidr {network} (got {text})"
        elif inner.prefixlen <= network.prefixlen:
            yield where, f"a strict subset of cidr {network} (got {text}, the whole block)"


def _port(port: Mapping[str, Any], path: str) -> Iterator[Problem]:
    protocol = port.get("protocol", "TCP")
    if protocol not in _PROTOCOLS:
        yield f"{path}.protocol", f"one of TCP, UDP, SCTP (got {protocol!r})"
    value = port.get("port")
    end = port.get("endPort")
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            yield f"{path}.port", f"a port number 1-65535 (got {value})"
    elif isinstance(value, str) and not is_port_name(value):
        yield f"{path}.port", f"a port number or an IANA service name (got {value!r})"
    if end is None:
        return
    if not isinstance(value, int):
        yield f"{path}.endPort", "endPort only with a numeric port (port is missing or named)"
    elif not isinstance(end, int) or end < value:
        yield f"{path}.endPort", f"endPort >= port {value} (got {end})"
    elif end > 65535:
        yield f"{path}.endPort", f"endPort <= 65535 (got {end})"


def _selector(selector: Any, path: str) -> Iterator[Problem]:
    if not isinstance(selector, Mapping):
        return
    for key, value in (selector.get("matchLabels") or {}).items():
        yield from _label_key(str(key), f"{path}.matchLabels")
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            yield f"{path}.matchLabels.{key}", f"a label value (got {value!r})"
    for i, expr in enumerate(selector.get("matchExpressions") or []):
        where = f"{path}.matchExpressions[{i}]"
        op = (expr or {}).get("operator")
        values = (expr or {}).get("values") or []
        yield from _label_key(str((expr or {}).get("key", "")), where + ".key")
        if op in ("In", "NotIn") and not values:
            yield f"{where}.values", f"at least one value for operator {op}"
        elif op in ("Exists", "DoesNotExist") and values:
            yield f"{where}.values", f"no values for operator {op}"
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            yield f"{where}.operator", f"In, NotIn, Exists or DoesNotExist (got {op!r})"


def _label_key(key: str, path: str) -> Iterator[Problem]:
    prefix, _, name = key.rpartition("/")
    ok = 0 < len(name) <= 63 and bool(_LABEL_VALUE.match(name))
    if prefix:
        ok = ok and len(prefix) <= 253 and bool(_DNS_SUBDOMAIN.match(prefix))
    if not ok:
        yield path, f"a label key such as app or example.com/app (got {key!r})"
