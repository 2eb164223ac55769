"""The fault protocol's fake keeps the contract the guard relies on."""

from __future__ import annotations

import pytest

from harness.chaos import FakeFault, Fault
from harness.errors import FaultError


def test_fake_fault_is_a_fault_and_rolls_back_idempotently() -> None:
    """inject -> active; rollback twice -> gone, no error."""
    fault = FakeFault("f")
    assert isinstance(fault, Fault)
    fault.inject()
    assert fault.is_active()
    fault.rollback()
    fault.rollback()
    assert not fault.is_active()


def test_fake_fault_failure_modes() -> None:
    """fail_inject raises FaultError; sticky rollback leaves it active."""
    with pytest.raises(FaultError):
        FakeFault(fail_inject=True).inject()
    sticky = FakeFault(sticky=True)
    sticky.inject()
    sticky.rollback()
    assert sticky.is_active()
