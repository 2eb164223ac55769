"""A run refused before any load: a target outside loopback.

It judges an error and its message, never a time: it runs in the parallel pass
(tests/conftest.py), not beside the timing tests of test_load_run.py (where the unreachable
target's "within the probe budget" stays: that one is a wall-clock bound).
"""

from __future__ import annotations

from load_support import run_child, scenario_json


def test_a_target_outside_loopback_is_refused() -> None:
    """Load only goes to loopback (or the project's namespaces): other hosts are a usage error."""
    out = run_child(
        "run",
        scenario_json(
            target="http://10.1.2.3:8080",
            phases=[{"name": "steady", "kind": "steady", "rate": 10, "duration_s": 5}],
        ),
    )
    assert out["error"] == "UsageError"
    assert "loopback" in out["message"]
