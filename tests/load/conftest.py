"""Fixtures of the load tests (helpers live in load_support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.testing import latency_target


@pytest.fixture(scope="module")
def bimodal_target() -> Iterator[str]:
    """The known-latency target: 98% at 2 ms, every 50th request 40 ms."""
    with latency_target() as url:
        yield url
