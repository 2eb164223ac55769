"""CLI edges of the live lab and of run --netpol: refused with a reason before anything is built."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner
from netlab_support import BASE, EXPECT, HARDENED, ISSUE8, PODS

from harness.cli import cli

STEADY = str(BASE.parents[2] / "scenarios" / "steady.yaml")


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_live_without_root_exits_3_naming_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not root: exit 3 with the reason, and no lab is attempted."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, out = _invoke(
        "netpol", "check", str(BASE), str(HARDENED), "--pods", str(PODS), "--expect",
        str(EXPECT), "--live",
    )  # fmt: skip
    assert code == 3
    assert "not root" in out


def test_run_netpol_refuses_a_target() -> None:
    """--netpol starts the service inside the lab: an explicit --target is a usage error."""
    code, out = _invoke(
        "run", STEADY, "--target", "http://127.0.0.1:9", "--netpol", str(BASE), "--netpol",
        str(HARDENED),
    )  # fmt: skip
    assert code == 2
    assert "--netpol" in out


def test_run_netpol_refuses_policies_that_block_the_load_path() -> None:
    """The issue's policy blocks gateway -> scorer: exit 2 with the engine's reason, no load."""
    code, out = _invoke(
        "run", STEADY, "--netpol", str(BASE), "--netpol", str(ISSUE8), "--netpol-namespace",
        "payments-pci",
    )  # fmt: skip
    assert code == 2
    assert "block the load path" in out
    assert "pci-zone-isolation" in out


def test_expect_without_netpol_is_a_usage_error() -> None:
    """--expect belongs to --netpol on run."""
    code, out = _invoke("run", STEADY, "--expect", str(EXPECT))
    assert code == 2
    assert "need --netpol" in out
