"""Fixtures of the target tests: a test PKI made on the spot and TLS test services on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.testing import Pki, latency_target, make_test_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA, server and client certificates, and an unrelated CA (a few milliseconds)."""
    return make_test_pki(tmp_path_factory.mktemp("pki"))


def _tls_args(pki: Pki, *, mtls: bool) -> tuple[str, ...]:
    args = ("--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key))
    return (*args, "--tls-client-ca", str(pki.ca)) if mtls else args


@pytest.fixture(scope="module")
def tls_target(pki: Pki) -> Iterator[str]:
    """The known-latency target over TLS (no client certificate needed), 1 ms per request."""
    with latency_target(*_tls_args(pki, mtls=False), "--base-ms", "1", "--slow-every", "0") as url:
        yield url


@pytest.fixture(scope="module")
def mtls_target(pki: Pki) -> Iterator[str]:
    """The same target requiring a client certificate signed by the test CA (mTLS)."""
    with latency_target(*_tls_args(pki, mtls=True), "--base-ms", "1", "--slow-every", "0") as url:
        yield url


@pytest.fixture(scope="module")
def plain_target() -> Iterator[str]:
    """The target in plain HTTP (to point an https:// URL at)."""
    with latency_target("--base-ms", "1", "--slow-every", "0") as url:
        yield url
