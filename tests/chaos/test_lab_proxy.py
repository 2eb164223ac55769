"""A proxy fault with the service in a lab namespace (a game day mixing network faults and HTTP
faults): the service's HTTP proxy starts in the generator's namespace, forwards to the service's
lab address, its control API answers there, and its faults take effect on that path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

import harness.gameday_job  # registers the lab environment
from harness.chaos import FAULT_FACTORY, SERVICE_PROXY, FaultContext, FaultGuard, Stage
from harness.chaos.proxy import ProxyHandle
from harness.ledger import Ledger
from harness.netns import Need, default_prefix, lab_support, list_namespaces
from harness.placement import Placement
from harness.spec.faults import HttpFault, LossFault

_CAPS = lab_support(Need.NFT)
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not _CAPS.ok, reason=_CAPS.reason or "lab supported"),
]

SPECS = [LossFault(percent=5), HttpFault(error_rate=1.0, error_code=503)]


def _get(url: str) -> int:
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        return client.get(url + "/").status_code


def _wait_up(url: str) -> None:
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:  # bounded
        try:
            _get(url)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer")


def test_the_service_proxy_works_from_the_generator_namespace_of_a_lab(tmp_path: Path) -> None:
    """Lab environment, then an upstream in the service's namespace, then the service proxy: the
    proxy process lives in the generator's namespace, a request through it reaches the service's
    lab address (200), an HTTP abort fault on it answers 503 until rolled back."""
    assert harness.gameday_job
    ledger = Ledger()
    with FAULT_FACTORY.environment(SPECS, FaultContext(), Stage.BEFORE_SERVICE) as ctx:
        placement = ctx.resources["lab.placement"]
        assert isinstance(placement, Placement)
        bind = placement.service_bind
        assert bind is not None
        server = subprocess.Popen(
            [*placement.service_prefix(), sys.executable, "-m", "http.server",
             "--bind", bind[0], str(bind[1]), "--directory", str(tmp_path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            upstream = f"http://{bind[0]}:{bind[1]}"
            _wait_up(upstream)
            service_ctx = replace(ctx, target_url=upstream)
            with FAULT_FACTORY.environment(SPECS, service_ctx, Stage.AFTER_SERVICE) as proxied:
                handle = proxied.resources[SERVICE_PROXY]
                assert isinstance(handle, ProxyHandle)
                assert proxied.target_url is not None
                gen_ns = os.stat(placement.generator.path).st_ino
                assert os.stat(f"/proc/{handle.pid}/ns/net").st_ino == gen_ns
                assert _get(proxied.target_url) == 200
                fault = FAULT_FACTORY.build(SPECS[1], proxied)
                with FaultGuard(ledger) as guard:
                    guard.inject(fault)
                    assert _get(proxied.target_url) == 503
                assert guard.records[0].verified_gone
                assert _get(proxied.target_url) == 200
        finally:
            server.kill()
            server.wait(timeout=5.0)
    assert ledger.entries() == []
    assert list_namespaces(default_prefix()) == []
