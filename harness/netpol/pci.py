"""PCI DSS v4.0 requirement mapping and zones, loaded from ``data/pci-dss-v4.yaml``.

The requirement texts and the default definition of the CDE live in that data file so every
finding, check and evidence bundle cites the same ids and words; code refers to ids only.

A :class:`Zone` is a set of pods: those in one of its ``namespaces``, those in a namespace whose
labels match ``namespace_labels``, or those whose own labels match ``labels`` (each test used only
when given; the zone is their union). External endpoints are never in a zone.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

import msgspec
import yaml

from harness.netpol.model import LabelSelector
from harness.netpol.selectors import SelectorIndex

__all__ = [
    "DATA_FILE",
    "PciRequirement",
    "RequirementTable",
    "Zone",
    "pci_requirements",
    "requirement",
    "zone_bits",
]

DATA_FILE: Final = Path(__file__).parent / "data" / "pci-dss-v4.yaml"


class PciRequirement(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One requirement: id, the standard's wording in short, what evidence this tool provides."""

    id: str
    title: str
    evidence: str


class Zone(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A PCI zone (for example the CDE) as sets of namespaces and labels."""

    name: str
    description: str = ""
    namespaces: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    namespace_labels: dict[str, str] = {}


class RequirementTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The data file."""

    version: int
    standard: str
    requirements: tuple[PciRequirement, ...]
    default_zone: Zone


@functools.cache
def pci_requirements() -> RequirementTable:
    """The requirement table shipped with the package (parsed once)."""
    return msgspec.convert(yaml.safe_load(DATA_FILE.read_text(encoding="utf-8")), RequirementTable)


def requirement(req_id: str) -> PciRequirement:
    """The requirement with id ``req_id`` (KeyError for an id the table does not hold)."""
    for req in pci_requirements().requirements:
        if req.id == req_id:
            return req
    raise KeyError(req_id)


def zone_bits(zone: Zone, index: SelectorIndex) -> int:
    """The pods of ``zone`` as a bitset over ``index``'s endpoints."""
    bits = 0
    for name in zone.namespaces:
        bits |= index.ns_pods.get(name, 0)
    if zone.namespace_labels:
        ns_selector = LabelSelector(match_labels=tuple(sorted(zone.namespace_labels.items())))
        bits |= index.namespace_bits(ns_selector)
    if zone.labels:
        selector = LabelSelector(match_labels=tuple(sorted(zone.labels.items())))
        bits |= index.select(selector, index.pods)
    return bits
