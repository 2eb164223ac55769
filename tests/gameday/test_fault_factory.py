"""The fault registry: every game-day kind has a builder, environments enter once and in order,
and a spec maps onto the real fault it names."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

import harness.chaos.builders
import harness.chaos.proxy_builders
from harness.chaos import FakeFault
from harness.chaos.factory import FAULT_FACTORY, FaultContext, FaultFactory, Stage
from harness.chaos.proxy import ProxyHandle, ToxicFault, ToxicKind
from harness.errors import FaultError
from harness.spec.faults import (
    FAULT_KINDS,
    HttpFault,
    LatencyFault,
    PauseFault,
    ProxyTarget,
    Stream,
)

NETWORK_AND_PROXY = {
    "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data",
    "http", "partition", "refuse", "loss", "network_bandwidth",
}  # fmt: skip


def test_proxy_and_network_kinds_are_registered() -> None:
    """Importing the builder modules registers the proxy and network kinds (the process kinds
    come from the chaos core)."""
    assert harness.chaos.builders
    assert harness.chaos.proxy_builders
    assert NETWORK_AND_PROXY <= set(FAULT_FACTORY.kinds) <= set(FAULT_KINDS)


def test_an_unknown_kind_or_environment_fails_before_load() -> None:
    """check() names the missing kind and what is available; a missing environment too."""
    factory = FaultFactory()
    with pytest.raises(FaultError, match=r"'pause' cannot be injected .*available: none"):
        factory.check([PauseFault()])
    factory.register("pause", lambda s, c: FakeFault(), environment="somewhere")
    with pytest.raises(FaultError, match="needs the 'somewhere' environment"):
        factory.check([PauseFault()])


def test_environments_enter_once_in_order_and_leave_in_reverse() -> None:
    """Only the environments the specs need are entered, once each, in registration order and
    per stage; they are left in reverse order."""
    log: list[str] = []

    def env(name: str):  # type: ignore[no-untyped-def]
        @contextlib.contextmanager
        def setup(ctx: FaultContext) -> Iterator[FaultContext]:
            log.append(f"enter {name}")
            yield ctx.with_resource(name, True)
            log.append(f"leave {name}")

        return setup

    factory = FaultFactory()
    factory.register_environment("a", Stage.BEFORE_SERVICE, env("a"))
    factory.register_environment("b", Stage.BEFORE_SERVICE, env("b"))
    factory.register_environment("c", Stage.AFTER_SERVICE, env("c"))
    factory.register_environment("unused", Stage.BEFORE_SERVICE, env("unused"))
    factory.register("pause", lambda s, c: FakeFault(), environment="b")
    factory.register("http", lambda s, c: FakeFault(), environment="a")
    factory.register("latency", lambda s, c: FakeFault(), environment=lambda s: "c")
    specs = [
        PauseFault(),
        HttpFault(error_rate=0.1),
        HttpFault(error_rate=0.2),
        LatencyFault(latency_ms=1),
    ]
    with factory.environment(specs, FaultContext(), Stage.BEFORE_SERVICE) as ctx:
        assert set(ctx.resources) == {"a", "b"}
        with factory.environment(specs, ctx, Stage.AFTER_SERVICE) as ctx2:
            assert set(ctx2.resources) == {"a", "b", "c"}
    assert log == ["enter a", "enter b", "enter c", "leave c", "leave b", "leave a"]


def _handle() -> ProxyHandle:
    return ProxyHandle("http://127.0.0.1:1", 1, {"feature_store": "127.0.0.1:2"}, None, "x")  # type: ignore[arg-type]


def test_a_feature_store_latency_spec_becomes_a_latency_toxic_on_that_proxy() -> None:
    """kind latency with target feature_store -> a ToxicFault on the feature_store proxy with the
    spec's values (validated by the proxy's own parser)."""
    spec = LatencyFault(
        latency_ms=200, jitter_ms=20, target=ProxyTarget.FEATURE_STORE, stream=Stream.UPSTREAM
    )
    ctx = FaultContext().with_resource("proxy.feature_store", _handle())
    fault = FAULT_FACTORY.build(spec, ctx)
    assert isinstance(fault, ToxicFault)
    assert (fault.proxy, fault.control_url) == ("feature_store", "http://127.0.0.1:1")
    assert fault.toxic.kind is ToxicKind.LATENCY
    assert fault.toxic.stream.value == "upstream"
    assert "200" in fault.name


def test_without_its_environment_a_proxy_fault_cannot_be_built() -> None:
    """A service-proxy spec in a context without the proxy fails with a FaultError."""
    with pytest.raises(FaultError, match=r"proxy\.service"):
        FAULT_FACTORY.build(HttpFault(error_rate=0.05), FaultContext())
