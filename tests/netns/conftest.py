"""Fixtures of the namespace tests: a unique name prefix and state dir per test, a 3-host lab,
and a final check (plus sweep) that nothing with the test's prefix is left behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.ledger import Ledger
from harness.netns import Lab


@pytest.fixture
def prefix(netns_prefix: str) -> str:
    """A namespace prefix no other test or helper uses; state dir in tmp; leak check at the end
    (tests/conftest.py's ``netns_prefix``)."""
    return netns_prefix


@pytest.fixture
def ledger(tmp_path: Path, prefix: str) -> Ledger:
    return Ledger(tmp_path / "state")


@pytest.fixture
def lab3(prefix: str, ledger: Ledger) -> Iterator[Lab]:
    """A lab of three hosts a, b, c (198.18.0.1-3), removed after the test."""
    lab = Lab.create(["a", "b", "c"], ledger=ledger)
    try:
        yield lab
    finally:
        lab.close()
