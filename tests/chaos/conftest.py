"""Fixtures for the fault-proxy tests: local targets with one proxy process per module.

Each proxy process is launched through the real launcher (ledger in a tmp dir) and shared by a
module's tests; the function-scoped fixtures reset it (every toxic removed, every proxy up) after
each test, so no test sees another's toxics.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from proxy_support import Proxied, http_target, tcp_target

from harness.chaos.proxy import Protocol, launch_proxy
from harness.ledger import Ledger


@pytest.fixture(scope="module")
def _http_proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    ledger = Ledger(tmp_path_factory.mktemp("state"))
    with (
        http_target() as target,
        launch_proxy(
            f"{target[0]}:{target[1]}", protocol=Protocol.HTTP, seed=7, ledger=ledger
        ) as handle,
    ):
        yield Proxied(target, handle)


@pytest.fixture(scope="module")
def _tcp_proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    ledger = Ledger(tmp_path_factory.mktemp("state"))
    with (
        tcp_target() as target,
        launch_proxy(
            f"{target[0]}:{target[1]}", protocol=Protocol.TCP, seed=7, ledger=ledger
        ) as handle,
    ):
        yield Proxied(target, handle)


@pytest.fixture
def http_proxied(_http_proxied: Proxied) -> Iterator[Proxied]:
    """An HTTP target behind a protocol-http proxy; reset after the test."""
    yield _http_proxied
    _http_proxied.handle.client.reset()


@pytest.fixture
def tcp_proxied(_tcp_proxied: Proxied) -> Iterator[Proxied]:
    """A TCP echo target behind a protocol-tcp proxy; reset after the test."""
    yield _tcp_proxied
    _tcp_proxied.handle.client.reset()
