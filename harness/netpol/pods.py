"""Probe-only pods and external endpoints (``--pods FILE``), parsed strictly.

The manifests hold the workloads a team deploys; a matrix also needs what the cluster provides
(kube-dns in kube-system, which egress rules must reach) and what should be *refused* (a probe
pod in an untrusted namespace, an address on the internet for ``ipBlock`` rules). This file adds
them without touching the manifests::

    namespaces:                 # optional labels for namespaces the manifests do not declare
      - {name: kube-system, labels: {}}
    pods:
      - namespace: kube-system
        name: kube-dns
        labels: {k8s-app: kube-dns}
        ports: [{port: 53, protocol: UDP, name: dns}, {port: 53, protocol: TCP, name: dns-tcp}]
    external:                   # outside the cluster: only ipBlock peers match these
      - {name: internet, ip: 203.0.113.10, ports: [{port: 443}]}

Errors are :class:`SpecError` with file and field path (exit 2), like every input file.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import msgspec

from harness.errors import SpecError
from harness.netpol.apiserver import is_port_name
from harness.netpol.model import (
    EXTERNAL_NAMESPACE,
    METADATA_NAME_LABEL,
    ContainerPort,
    Endpoint,
    EndpointKind,
    Namespace,
    Protocol,
    Source,
)
from harness.spec import convert_spec, read_yaml

__all__ = ["ProbePods", "load_probe_pods"]


class _Port(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    port: int
    protocol: Protocol = Protocol.TCP
    name: str | None = None


class _Pod(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    namespace: str = "default"
    labels: dict[str, str] = {}
    ports: tuple[_Port, ...] = ()
    ip: str | None = None


class _External(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    ip: str
    ports: tuple[_Port, ...] = ()


class _Namespace(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    labels: dict[str, str] = {}


class _File(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pods: tuple[_Pod, ...] = ()
    external: tuple[_External, ...] = ()
    namespaces: tuple[_Namespace, ...] = ()


class ProbePods(msgspec.Struct, frozen=True):
    """The endpoints and namespace labels a pods file adds."""

    endpoints: tuple[Endpoint, ...]
    namespaces: tuple[Namespace, ...]


def load_probe_pods(path: Path) -> ProbePods:
    """Parse a pods file (SpecError naming file and field path on any problem)."""
    name = str(path)
    data = convert_spec(read_yaml(path), _File, name)
    endpoints: list[Endpoint] = []
    for i, pod in enumerate(data.pods):
        _check_ports(name, f"$.pods[{i}]", pod.ports)
        if pod.ip is not None:
            _check_ip(name, f"$.pods[{i}].ip", pod.ip)
        endpoints.append(
            Endpoint(
                namespace=pod.namespace,
                name=pod.name,
                kind=EndpointKind.PROBE,
                labels=tuple(sorted(pod.labels.items())),
                ports=_ports(pod.ports),
                ip=pod.ip,
                source=Source(name, 0),
            )
        )
    for i, ext in enumerate(data.external):
        _check_ports(name, f"$.external[{i}]", ext.ports)
        _check_ip(name, f"$.external[{i}].ip", ext.ip)
        endpoints.append(
            Endpoint(
                namespace=EXTERNAL_NAMESPACE,
                name=ext.name,
                kind=EndpointKind.EXTERNAL,
                ports=_ports(ext.ports),
                ip=ext.ip,
                workload_kind="External",
                source=Source(name, 0),
            )
        )
    refs = [e.ref for e in endpoints]
    for i, ref in enumerate(refs):
        if ref in refs[:i]:
            raise SpecError(name, "$", f"unique pod names ({ref} appears twice)")
    namespaces = tuple(
        Namespace(ns.name, tuple(sorted({**ns.labels, METADATA_NAME_LABEL: ns.name}.items())))
        for ns in data.namespaces
    )
    return ProbePods(tuple(endpoints), namespaces)


def _ports(ports: tuple[_Port, ...]) -> tuple[ContainerPort, ...]:
    unique = {(p.port, p.protocol.value): ContainerPort(p.port, p.protocol, p.name) for p in ports}
    return tuple(unique[k] for k in sorted(unique))


def _check_ports(file: str, base: str, ports: tuple[_Port, ...]) -> None:
    for j, port in enumerate(ports):
        if not 1 <= port.port <= 65535:
            raise SpecError(file, f"{base}.ports[{j}].port", f"1-65535 (got {port.port})")
        if port.name is not None and not is_port_name(port.name):
            raise SpecError(
                file, f"{base}.ports[{j}].name", f"an IANA service name ({port.name!r})"
            )


def _check_ip(file: str, path: str, ip: str) -> None:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise SpecError(file, path, f"an IP address (got {ip!r})") from None
