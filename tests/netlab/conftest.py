"""Fixtures of the live-lab tests: a namespace prefix and state dir no other test uses, the
reference manifests, and the leak check the brief asks for (namespaces listed before and after)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.netns import list_namespaces, sweep_prefix


@pytest.fixture
def lab_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A unique prefix + state dir; fails the test if any namespace of it outlives the test."""
    value = f"slolab{secrets.token_hex(2)}-"
    monkeypatch.setenv("SLO_HARNESS_NETNS_PREFIX", value)
    monkeypatch.setenv("SLO_HARNESS_STATE_DIR", str(tmp_path / "state"))
    yield value
    leaked = list_namespaces(value)
    if leaked:
        sweep_prefix(value)
    assert leaked == [], f"namespaces left behind: {leaked}"
