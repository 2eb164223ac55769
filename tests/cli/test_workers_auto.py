"""`--workers auto`: one generator process per usable core; anything else out of 0-64 is exit 2."""

from __future__ import annotations

import os

import click
import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.cli.run import _WORKERS
from harness.load import auto_workers


def test_auto_is_one_worker_per_usable_core() -> None:
    """auto resolves to the cores this process may run on (its affinity), at least one."""
    assert auto_workers() == len(os.sched_getaffinity(0))
    assert _WORKERS.convert("auto", None, None) == min(auto_workers(), 64)
    assert _WORKERS.convert("AUTO", None, None) == _WORKERS.convert("auto", None, None)
    assert _WORKERS.convert("3", None, None) == 3


@pytest.mark.parametrize("bad", ["65", "-1", "two", ""])
def test_other_values_are_usage_errors(bad: str) -> None:
    """A worker count outside 0-64 that is not 'auto' fails before anything starts (exit 2)."""
    with pytest.raises(click.BadParameter, match="auto"):
        _WORKERS.convert(bad, None, None)
    result = CliRunner().invoke(cli, ["run", "scenarios/steady.yaml", "--workers", bad])
    assert result.exit_code == 2
