"""Property: whatever flags and scenario/SLO contents a user passes, the CLI never says "internal
error" and always exits 0-3, with a one-line message and no traceback.

Driven in-process through click's CliRunner (fast: no interpreter per example). No load is ever
sent: ``harness.pipeline``'s measuring step is replaced by one that raises a MeasurementError
("reached load"), so an example either fails validation (the point of the test) or gets as far as
the load and stops there with exit 3. Validation runs for real: scenario and SLO parsing,
overrides, the target rule, the SLO-vs-scenario checks, the baseline and --out checks.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from cli_support import mutate, paths
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from harness import pipeline
from harness.cli import cli
from harness.errors import MeasurementError

ROOT = Path(__file__).resolve().parents[2]
STEADY = {
    **yaml.safe_load((ROOT / "scenarios" / "steady.yaml").read_text()),
    "slo": str(ROOT / "scenarios" / "slo" / "default.yaml"),  # the copy lives in a temp dir
}
SLO = yaml.safe_load((ROOT / "scenarios" / "slo" / "default.yaml").read_text())


class ReachedLoad(MeasurementError):
    """Raised instead of sending load: validation let this example through."""


def _no_load(*_: object, **__: object) -> Any:
    raise ReachedLoad("reached the load step (stopped by the test)")


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([0, 1, 0.5, 1e-300, 1e308, 300, 45]),
)
number_text = st.one_of(
    st.sampled_from(["1", "5", "50", "300", "0.5", "45"]),  # valid: gets past validation
    numbers.map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e999", "x", ""]),
)
scalars = st.one_of(
    numbers,
    st.none(),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["steady", "warmup", "spike", "score", "infer", "*", "p99", "<", "http://x"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
targets = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "http://127.0.0.1:1",
            "https://127.0.0.1:1",
            "ftp://127.0.0.1",
            "http://10.0.0.1:80",
            "http://[::1",
            "http://127.0.0.1:99999",
            "http://localhost:port",
            "127.0.0.1:8080",
            "http://example.com",
            "",
        ]
    ),
    st.text(max_size=20),
)


STEADY_PATHS = [*paths(STEADY), ["phases", 1, "extra"], ["unknown_key"], ["phases", 5]]
SLO_PATHS = [*paths(SLO), ["objectives", 0, "endpoint"], ["objectives", 1, "phase"]]


@st.composite
def invocations(draw: st.DrawFn, workdir: Path) -> list[str]:
    scenario = STEADY
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        scenario = mutate(scenario, draw(st.sampled_from(STEADY_PATHS)), draw(values))
    slo = SLO
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        slo = mutate(slo, draw(st.sampled_from(SLO_PATHS)), draw(values))
    n = draw(st.integers(0, 10**9))
    scenario_file = workdir / f"s{n}.yaml"
    scenario_file.write_text(yaml.safe_dump(scenario, allow_unicode=True))
    slo_file = workdir / f"slo{n}.yaml"
    slo_file.write_text(yaml.safe_dump(slo, allow_unicode=True))
    args = ["run", str(scenario_file), "--no-progress", "--out", str(workdir / f"out{n}")]
    if draw(st.booleans()):
        args += ["--slo", str(slo_file)]
    for flag in ("--rate", "--duration"):
        if draw(st.booleans()):
            args += [flag, draw(number_text)]
    if (target := draw(targets)) is not None:
        args += ["--target", target]
    if draw(st.booleans()):
        args += ["--workers", draw(number_text)]
    if draw(st.booleans()):
        args += ["--baseline", str(draw(st.sampled_from([workdir / "missing", workdir])))]
    if draw(st.booleans()):
        args += ["--master-bind", draw(st.sampled_from(["127.0.0.1", "0.0.0.0", "*", "x"]))]
    return args


# Hypothesis forbids function-scoped tmp_path, and the strategies need the path when decorated:
# the name is fixed at import, the folder exists only while this module's tests run (an
# import-time mkdtemp leaked one folder per xdist worker, whose exit skips atexit).
_WORKDIR = Path(tempfile.gettempdir()) / f"slo-cli-props-{os.getpid()}"


@pytest.fixture(autouse=True, scope="module")
def _workdir() -> Iterator[None]:
    _WORKDIR.mkdir()
    try:
        yield
    finally:
        shutil.rmtree(_WORKDIR, ignore_errors=True)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(args=invocations(_WORKDIR))
def test_run_never_fails_with_an_internal_error(args: list[str]) -> None:
    """Generated flags and scenario/SLO overrides: exit 0-3, no "internal error", no traceback."""
    with contextlib.chdir(_WORKDIR), mock.patch.object(pipeline, "_measure", _no_load):
        result = CliRunner().invoke(cli, args, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        repr(result.exception),
    )
    assert result.exit_code in (0, 1, 2, 3), (args, result.output)
    event(f"exit {result.exit_code}")
    assert "internal error" not in result.output, (args, result.output)
    assert "Traceback" not in result.output, (args, result.output)
    if result.exit_code == 2:  # a config error names what to fix
        assert result.output.strip(), args


@settings(max_examples=60, deadline=None)
@given(
    command=st.sampled_from(
        [["compare"], ["report", "verify"], ["report", "index"], ["audit", "verify"]]
    ),
    paths=st.lists(st.sampled_from(["missing", ".", "s.yaml", ""]), min_size=0, max_size=3),
)
def test_other_commands_never_fail_with_an_internal_error(
    command: list[str], paths: list[str]
) -> None:
    """compare / report / audit with missing, wrong-kind or empty paths: exit 0-3, no crash."""
    args = [*command, *(str(_WORKDIR / p) if p else "" for p in paths)]
    with contextlib.chdir(_WORKDIR):  # "" is the current directory: never the repository
        result = CliRunner().invoke(cli, args, catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 1, 2, 3)
    assert "internal error" not in result.output, (args, result.output)


def test_the_stub_is_reached_by_a_valid_invocation() -> None:
    """The property above can reach the load step: a valid run stops there with exit 3."""
    with contextlib.chdir(_WORKDIR), mock.patch.object(pipeline, "_measure", _no_load):
        result = CliRunner().invoke(
            cli, ["run", str(ROOT / "scenarios" / "steady.yaml"), "--out", str(_WORKDIR / "v")]
        )
    assert result.exit_code == 3
    assert "reached the load step" in result.output
