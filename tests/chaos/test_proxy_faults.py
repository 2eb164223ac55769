"""The proxy's faults keep the Fault protocol: observable through the API, idempotent rollback."""

from __future__ import annotations

from pathlib import Path

import pytest
from proxy_support import Proxied

from harness.chaos import Fault
from harness.chaos.proxy import (
    PROXY_TOXIC_KIND,
    Distribution,
    Stream,
    Toxic,
    ToxicFault,
    bandwidth_toxic,
    http_fault_toxic,
    latency_toxic,
    launch_proxy,
    limit_data_toxic,
    reset_peer_toxic,
    slicer_toxic,
    slow_close_toxic,
    timeout_toxic,
)
from harness.errors import FaultError
from harness.ledger import Ledger, UndoStatus, sweep

TOXICS = [
    latency_toxic(20.0, 5.0, Distribution.PARETONORMAL),
    bandwidth_toxic(50.0, stream=Stream.UPSTREAM),
    slow_close_toxic(100.0),
    timeout_toxic(0.0),
    reset_peer_toxic(500.0),
    slicer_toxic(10, 2, 50.0),
    limit_data_toxic(1000),
    http_fault_toxic(error_rate=0.05, error_code=503, average_delay_ms=10.0, exclude=["/h"]),
]


@pytest.mark.parametrize("toxic", TOXICS, ids=lambda t: t.kind.value)
def test_each_toxic_fault_injects_observes_and_rolls_back(
    http_proxied: Proxied, toxic: Toxic
) -> None:
    """inject -> is_active (read back from the proxy) -> rollback twice -> not active."""
    fault = ToxicFault(http_proxied.handle.control_url, "target", toxic)
    assert isinstance(fault, Fault)
    assert fault.undo_entry().kind == PROXY_TOXIC_KIND
    assert not fault.is_active()
    fault.rollback()  # safe before inject
    fault.inject()
    fault.inject()  # idempotent with the same values
    assert fault.is_active()
    fault.rollback()
    fault.rollback()
    assert not fault.is_active()


def test_a_changed_toxic_is_not_reported_active(http_proxied: Proxied) -> None:
    """is_active compares values: a toxic of the same name with other values is not this fault."""
    url = http_proxied.handle.control_url
    fault = ToxicFault(url, "target", latency_toxic(20.0, name="lat"))
    fault.inject()
    http_proxied.handle.client.update_toxic("target", latency_toxic(30.0, name="lat"))
    assert not fault.is_active()
    with pytest.raises(FaultError, match="already has a different toxic"):
        fault.inject()


def test_inject_on_unknown_proxy_is_a_fault_error(http_proxied: Proxied) -> None:
    """A fault aimed at a proxy that does not exist fails to inject with FaultError."""
    fault = ToxicFault(http_proxied.handle.control_url, "nope", latency_toxic(1.0))
    with pytest.raises(FaultError):
        fault.inject()


def test_fault_names_read_as_a_timeline_label(http_proxied: Proxied) -> None:
    """The name says kind, values, stream and proxy."""
    fault = ToxicFault(http_proxied.handle.control_url, "target", latency_toxic(20.0))
    assert fault.name == "latency 20ms downstream -> target"


def test_sweep_removes_a_toxic_left_by_a_crashed_run(http_proxied: Proxied, tmp_path: Path) -> None:
    """The toxic's ledger entry undoes it through the control API; a second sweep finds nothing."""
    fault = ToxicFault(http_proxied.handle.control_url, "target", latency_toxic(20.0))
    ledger = Ledger(tmp_path)
    entry = fault.undo_entry()
    ledger.record(entry.kind, entry.key, entry.undo)
    fault.inject()
    (item,) = sweep(ledger, everything=True)
    assert item.status is UndoStatus.REMOVED
    assert not fault.is_active()
    assert ledger.entries() == []


def test_rollback_succeeds_when_the_proxy_is_gone(tmp_path: Path) -> None:
    """With the proxy process gone its toxics are gone: rollback is quiet, is_active False."""
    with launch_proxy("127.0.0.1:9", ledger=Ledger(tmp_path)) as handle:
        fault = ToxicFault(handle.control_url, "target", latency_toxic(5.0))
        fault.inject()
        assert fault.is_active()
    fault.rollback()
    assert not fault.is_active()
    ledger = Ledger(tmp_path)
    entry = fault.undo_entry()
    ledger.record(entry.kind, entry.key, entry.undo)
    (item,) = sweep(ledger, everything=True)
    assert item.status is UndoStatus.ALREADY_GONE
