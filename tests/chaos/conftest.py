"""Chaos test fixtures: a per-test netns prefix, and local targets with one proxy per module.

Every test gets its own ``$SLO_HARNESS_NETNS_PREFIX``, so ``cleanup --all`` (which removes every
namespace with the prefix) never touches another run's labs.

Each proxy process is launched through the real launcher (ledger in a tmp dir) and shared by a
module's tests; the function-scoped fixtures reset it (every toxic removed, every proxy up) after
each test, so no test sees another's toxics.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator

import pytest
from proxy_support import Proxied, http_target, tcp_target

from harness.chaos.proxy import Protocol, launch_proxy
from harness.ledger import Ledger
from harness.netns import PREFIX_ENV


@pytest.fixture(autouse=True)
def _own_netns_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREFIX_ENV, f"slohc{secrets.token_hex(3)}-")


def _proxied(
    factory: pytest.TempPathFactory,
    target_cm: Callable[[], contextlib.AbstractContextManager[tuple[str, int]]],
    protocol: Protocol,
) -> Iterator[Proxied]:
    ledger = Ledger(factory.mktemp("state"))
    with target_cm() as target:
        upstream = f"{target[0]}:{target[1]}"
        with launch_proxy(upstream, protocol=protocol, seed=7, ledger=ledger) as handle:
            yield Proxied(target, handle)


@pytest.fixture(scope="module")
def _http_proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    yield from _proxied(tmp_path_factory, http_target, Protocol.HTTP)


@pytest.fixture(scope="module")
def _tcp_proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    yield from _proxied(tmp_path_factory, tcp_target, Protocol.TCP)


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
