"""Entry point for ``locust -f scenarios/<name>.py``: read the files, then hand over to the hooks.

Locust imports the locustfile before it parses its own options, so this runs first: the scenario
next to the locustfile and its SLO file are loaded and checked here (the SLO's phases and
endpoints must exist in the scenario), and a bad file ends Locust with one line and the error's
exit code (2) before any load. The hooks themselves live in ``harness.load`` (the only package
that imports Locust); this module imports no Locust.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.load import install_plugin
from harness.spec import Scenario, SloSpec, load_scenario, load_slo, validate_slo_against

__all__ = ["scenario_plugin"]


def scenario_plugin(locustfile: str | Path) -> tuple[type[Any], type[Any]]:
    """(user class, shape class) for the scenario next to ``locustfile`` (same name, ``.yaml``)."""
    path = Path(locustfile).with_suffix(".yaml")
    try:
        scenario = load_scenario(path)
        slo = _load_slo(scenario)
    except HarnessError as exc:
        sys.stderr.write(f"slo-harness: error: {exc}\n")
        raise SystemExit(exc.exit_code) from None
    return install_plugin(path, scenario, slo)


def _load_slo(scenario: Scenario) -> SloSpec | None:
    """The scenario's SLO file, parsed and checked against its phases (SpecError if not)."""
    path = scenario.slo_path
    if path is None:
        return None
    slo = load_slo(path)
    # --slo-rate/--slo-duration change a phase's rate and length, never its name.
    validate_slo_against(slo, scenario, file=str(path))
    return slo
