"""Every example in scenarios/examples/ loads as shipped (files found, templates valid, the
factory importable) and states the one command that runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.spec import load_scenario

EXAMPLES = Path(__file__).resolve().parents[2] / "scenarios" / "examples"


@pytest.mark.parametrize("name", ["own-api", "triton", "mlserver", "kserve", "factory"])
def test_example_loads_and_names_its_command(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example parses with its secret set, and its header says how to try it."""
    monkeypatch.setenv("RISK_TOKEN", "example-token")
    path = EXAMPLES / f"{name}.yaml"
    scenario = load_scenario(path)
    assert scenario.requests is not None
    assert f"python scenarios/examples/try_example.py {name}" in path.read_text()
