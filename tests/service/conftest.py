"""Fixtures of the reference service tests (helpers live in svc_support.py).

Every service runs as a real subprocess on a loopback port; every one is stopped at teardown. After
the session, every file the service tests wrote is scanned for every PAN that was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from svc_support import SCANNED_DIRS, SENT_PANS, Service, ServiceFactory, scan_for_pans


@pytest.fixture
def services(tmp_path: Path) -> Iterator[ServiceFactory]:
    """Start services for one test; all are stopped at teardown."""
    factory = ServiceFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One shared service (in-process feature store, durable audit) for read-mostly tests."""
    factory = ServiceFactory(tmp_path_factory.mktemp("shared-service"))
    try:
        yield factory.start()
    finally:
        factory.stop_all()


@pytest.fixture(scope="session", autouse=True)
def pan_scan() -> Iterator[None]:
    """After the session: no file written by the service tests contains a PAN that was sent."""
    yield
    if SENT_PANS and SCANNED_DIRS:
        hits = scan_for_pans(SCANNED_DIRS, SENT_PANS)
        assert not hits, f"PANs found in files written during the tests: {hits}"
