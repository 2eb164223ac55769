"""Malformed scenario files: one SpecError naming the file, the field path and what was expected."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec import load_scenario

OK_PHASE = "{name: s, kind: steady, rate: 10, duration_s: 5}"

CASES = [
    # (id, yaml, expected path, substring of "expected")
    ("empty file", "", "$", "non-empty"),
    ("only a comment", "# nothing\n", "$", "non-empty"),
    ("bad yaml", "name: x\nphases: [\n", "$", "valid YAML"),
    ("top level list", "- a\n- b\n", "$", "object"),
    ("missing phases", "name: x\n", "$.phases", "missing required field"),
    ("missing name", f"phases: [{OK_PHASE}]\n", "$.name", "missing required field"),
    ("empty phases", "name: x\nphases: []\n", "$.phases", "length >= 1"),
    (
        "unknown top key",
        f"name: x\nphasez: []\nphases: [{OK_PHASE}]\n",
        "$.phasez",
        "unknown field",
    ),
    (
        "typo in phase field",
        "name: x\nphases: [{name: s, kind: steady, rat: 10, duration_s: 5}]\n",
        "$.phases[0].rat",
        "unknown field",
    ),
    (
        "wrong type",
        "name: x\nphases: [{name: s, kind: steady, rate: fast, duration_s: 5}]\n",
        "$.phases[0].rate",
        "Expected `float`",
    ),
    (
        "bool for number",
        "name: x\nphases: [{name: s, kind: steady, rate: true, duration_s: 5}]\n",
        "$.phases[0].rate",
        "Expected `float`",
    ),
    (
        "negative rate",
        "name: x\nphases: [{name: s, kind: steady, rate: -3, duration_s: 5}]\n",
        "$.phases[0].rate",
        "> 0",
    ),
    (
        "zero duration",
        "name: x\nphases: [{name: s, kind: steady, rate: 3, duration_s: 0}]\n",
        "$.phases[0].duration_s",
        "> 0",
    ),
    (
        "absurd rate",
        "name: x\nphases: [{name: s, kind: steady, rate: 1000000000, duration_s: 5}]\n",
        "$.phases[0].rate",
        "<= 1000000",
    ),
    (
        "unknown kind",
        "name: x\nphases: [{name: s, kind: rmp, rate: 1, duration_s: 5}]\n",
        "$.phases[0].kind",
        "one of warmup, steady, ramp, step, spike, soak",
    ),
    (
        "missing kind",
        "name: x\nphases: [{name: s, rate: 1, duration_s: 5}]\n",
        "$.phases[0].kind",
        "missing required field",
    ),
    (
        "ramp without to_rate",
        "name: x\nphases: [{name: r, kind: ramp, from_rate: 1, duration_s: 5}]\n",
        "$.phases[0].to_rate",
        "missing required field",
    ),
    (
        "steady with a ramp field",
        "name: x\nphases: [{name: s, kind: steady, rate: 1, to_rate: 5, duration_s: 5}]\n",
        "$.phases[0].to_rate",
        "unknown field",
    ),
    (
        "ramp from 0 to 0",
        "name: x\nphases: [{name: r, kind: ramp, from_rate: 0, to_rate: 0, duration_s: 5}]\n",
        "$.phases[0]",
        "at least one of them > 0",
    ),
    (
        "step without steps",
        "name: x\nphases: [{name: s, kind: step, steps: []}]\n",
        "$.phases[0].steps",
        "length >= 1",
    ),
    (
        "step with bad step",
        "name: x\nphases: [{name: s, kind: step, steps: [{rate: 1}]}]\n",
        "$.phases[0].steps[0].duration_s",
        "missing required field",
    ),
    (
        "spike outside its phase",
        "name: x\nphases: [{name: p, kind: spike, base_rate: 1, spike_rate: 9,"
        " spike_start_s: 8, spike_duration_s: 5, duration_s: 10}]\n",
        "$.phases[0]",
        "within duration_s",
    ),
    (
        "warm-up after steady",
        f"name: x\nphases: [{OK_PHASE}, {{name: w, kind: warmup, rate: 1, duration_s: 5}}]\n",
        "$.phases[1]",
        "warm-up phases before all others",
    ),
    (
        "only warm-up",
        "name: x\nphases: [{name: w, kind: warmup, rate: 1, duration_s: 5}]\n",
        "$.phases",
        "not a warm-up",
    ),
    (
        "duplicate phase names",
        f"name: x\nphases: [{OK_PHASE}, {OK_PHASE}]\n",
        "$.phases",
        "unique names",
    ),
    (
        "bad phase name",
        "name: x\nphases: [{name: 'a b', kind: steady, rate: 1, duration_s: 1}]\n",
        "$.phases[0].name",
        "matching regex",
    ),
    (
        "unknown main phase",
        f"name: x\nmain_phase: nope\nphases: [{OK_PHASE}]\n",
        "$.main_phase",
        "expected one of",
    ),
    (
        "unknown endpoint",
        f"name: x\nmix: [{{endpoint: scroe, weight: 1}}]\nphases: [{OK_PHASE}]\n",
        "$.mix[0].endpoint",
        "one of score, infer, health",
    ),
    (
        "zero weight",
        f"name: x\nmix: [{{endpoint: score, weight: 0}}]\nphases: [{OK_PHASE}]\n",
        "$.mix[0].weight",
        "> 0",
    ),
    (
        "duplicate endpoint",
        f"name: x\nmix: [{{endpoint: score, weight: 1}}, {{endpoint: score, weight: 2}}]\n"
        f"phases: [{OK_PHASE}]\n",
        "$.mix",
        "at most once",
    ),
    (
        "pan share above one",
        f"name: x\npayload: {{pan_share: 1.5}}\nphases: [{OK_PHASE}]\n",
        "$.payload.pan_share",
        "<= 1",
    ),
    (
        "unknown arrival",
        f"name: x\narrival: bursty\nphases: [{OK_PHASE}]\n",
        "$.arrival",
        "one of constant, poisson",
    ),
    (
        "not a url",
        f"name: x\ntarget: 127.0.0.1:8080\nphases: [{OK_PHASE}]\n",
        "$.target",
        "http:// or https:// URL",
    ),
    (
        "concurrency zero",
        f"name: x\nmax_concurrency: 0\nphases: [{OK_PHASE}]\n",
        "$.max_concurrency",
        ">= 1",
    ),
    (
        "float concurrency",
        f"name: x\nmax_concurrency: 2.5\nphases: [{OK_PHASE}]\n",
        "$.max_concurrency",
        "Expected `int`",
    ),
    (
        "timeout beyond histogram",
        f"name: x\ntimeout_ms: 120000\nphases: [{OK_PHASE}]\n",
        "$.timeout_ms",
        "<= 60000",
    ),
    (
        "generator limit typo",
        f"name: x\ngenerator: {{max_cpu: 80}}\nphases: [{OK_PHASE}]\n",
        "$.generator.max_cpu",
        "unknown field",
    ),
    (
        "missing slo file",
        f"name: x\nslo: nowhere.yaml\nphases: [{OK_PHASE}]\n",
        "$.slo",
        "existing SLO file",
    ),
]


@pytest.mark.parametrize(
    ("text", "path", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_scenario_names_file_path_and_expectation(
    tmp_path: Path, text: str, path: str, expected: str
) -> None:
    """Each malformed file gives one SpecError with the file, the exact field path and a hint."""
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SpecError) as info:
        load_scenario(f)
    err = info.value
    assert err.file == str(f)
    assert err.path == path
    assert expected in err.expected
    assert str(err) == f"{f}: {path}: {err.expected}"
    # nothing chained that a handler could print as "During handling of the above exception"
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    """A scenario path that does not exist is a SpecError, not FileNotFoundError."""
    with pytest.raises(SpecError, match="not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_binary_file_is_a_spec_error(tmp_path: Path) -> None:
    """A non-UTF-8 file is a SpecError."""
    f = tmp_path / "bin.yaml"
    f.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SpecError, match="UTF-8"):
        load_scenario(f)


def test_error_output_has_no_traceback(tmp_path: Path) -> None:
    """Loading a bad file in a fresh interpreter prints the one-line error and no traceback."""
    f = tmp_path / "bad.yaml"
    f.write_text("name: x\nphases: [{name: r, kind: ramp, from_rate: 1, duration_s: 5}]\n")
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from harness.errors import SpecError
        from harness.spec import load_scenario
        try:
            load_scenario(Path({str(f)!r}))
        except SpecError as exc:
            print(exc, file=sys.stderr)
            sys.exit(2)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip() == f"{f}: $.phases[0].to_rate: Object missing required field `to_rate`"
    )
    assert "Traceback" not in proc.stderr
