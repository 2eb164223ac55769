"""Fixtures of the live-lab tests: a namespace prefix and state dir no other test uses, the
reference manifests, and the leak check the brief asks for (namespaces listed before and after)."""

from __future__ import annotations

import pytest


@pytest.fixture
def lab_prefix(netns_prefix: str) -> str:
    """A unique prefix + state dir; fails the test if any namespace of it outlives the test
    (tests/conftest.py's ``netns_prefix``)."""
    return netns_prefix
