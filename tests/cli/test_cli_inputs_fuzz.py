"""Issue 10, "Fuzzing" of the harness's inputs: every file a user hands the harness (scenario, SLO,
game day, PCI expectations, NetworkPolicy manifests), broken by Hypothesis, gets exit 2 naming the
file, with the field path when the YAML parsed, and never a traceback or "internal error".

Each example starts from a shipped, valid file and either replaces a value at a random field path
(wrong types, NaN, huge numbers, unknown keys, deep nesting) or damages the text itself (invalid
UTF-8, YAML syntax, duplicate keys, nesting thousands deep, tabs, a Python object tag). The
command is the one that reads that file, run in-process through click (no interpreter per
example, no load: ``run`` stops at the load step): ``run`` (scenario, ``--slo``), ``gameday
--dry-run``, ``netpol check --expect``, ``netpol lint``. A valid result is allowed too (a mutation
can keep a file valid): exit 0/1 for the netpol commands, 0 for a dry run, 3 "reached the load
step" for ``run``. With ``$SLO_SUITE_FIGURES`` set the counts go to the README table.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from cli_support import mutate, paths
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import pipeline
from harness.cli import cli
from harness.errors import MeasurementError

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
FULL = os.environ.get("SLO_SUITE_PROFILE", "ci") == "full"
#: Examples per kind: the netpol commands load and schema-check manifests (kubernetes-validate,
#: tens of ms per document), so CI runs fewer of those.
EXAMPLES = {"scenario": 40, "slo": 40, "gameday": 40, "expectations": 8, "manifests": 12}


class _ReachedLoad(MeasurementError):
    """Raised instead of sending load: validation let the example through."""


def _no_load(*_: object, **__: object) -> Any:
    raise _ReachedLoad("reached the load step (stopped by the test)")


#: kind -> (shipped valid file, argv with {file} in it, exit codes a valid file may give)
KINDS: dict[str, tuple[Path, list[str], set[int]]] = {
    "scenario": (ROOT / "scenarios" / "steady.yaml", ["run", "{file}", "--no-progress"], {3}),
    "slo": (
        ROOT / "scenarios" / "slo" / "default.yaml",
        ["run", str(ROOT / "scenarios" / "steady.yaml"), "--slo", "{file}", "--no-progress"],
        {3},
    ),
    "gameday": (ROOT / "scenarios" / "gamedays" / "service-stall.yaml",
                ["gameday", "{file}", "--dry-run"], {0}),
    "expectations": (
        K8S / "pci" / "expectations.yaml",
        ["netpol", "check", str(K8S / "base"), str(K8S / "policies" / "hardened"), "--expect",
         "{file}", "--pods", str(K8S / "pci" / "pods.yaml"), "-n", "payments-pci"],
        {0, 1},
    ),
    "manifests": (K8S / "policies" / "hardened" / "10-scorer-ingress.yaml",
                  ["netpol", "lint", "{file}"], {0, 1}),
}  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.sampled_from(["", "-1", "1e999", "nan", "p99", "score", "http://x", "10.0.0.0/8", "*"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6,
)  # fmt: skip

_ALIAS_BOMB = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)
)

#: Damage to the text itself (applied to the YAML the valid file serialises to).
TEXT_DAMAGE = (
    lambda t: t.replace(":", "", 1),
    lambda t: t + "\n" + t.splitlines()[0] + "\n",  # a duplicate top-level key
    lambda t: "a: " + "[" * 600 + "]" * 600 + "\n" + t,  # 600 deep: past the recursion limit
    lambda t: "a: " + "[" * 100_000 + "\n" + t,  # was 6 s of quadratic scanning before refusal
    lambda t: "".join(" " * i + "a:\n" for i in range(200)) + t,  # block nesting 200 deep
    lambda t: _ALIAS_BOMB + t,  # 9**8 nodes once expanded (was 74 s to walk)
    lambda t: "x: !!python/object:os.system {}\n" + t,
    lambda t: "\t" + t,
    lambda t: t[: len(t) // 2],
    lambda t: "- " + t,
    lambda t: "",
    lambda t: "{" + t,
)


@st.composite
def broken(draw: st.DrawFn, kind: str) -> tuple[bytes, bool]:
    """(file bytes, whether they still parse as YAML) for ``kind``."""
    valid = yaml.safe_load(KINDS[kind][0].read_text())
    if draw(st.integers(0, 3)) == 0:  # a quarter: damage the text
        text = yaml.safe_dump(valid, allow_unicode=True, sort_keys=False)
        if draw(st.booleans()):
            return text.encode()[:-3] + b"\xff\xfe" + draw(st.binary(max_size=4)), False
        return draw(st.sampled_from(TEXT_DAMAGE))(text).encode(), False
    doc = valid
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([*paths(valid), ["zz_unknown"]]))
        doc = mutate(doc, path, draw(values))
    return yaml.safe_dump(doc, allow_unicode=True).encode(), True


FIGURES: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module", autouse=True)
def _record() -> Iterator[None]:
    yield
    root = os.environ.get("SLO_SUITE_FIGURES")
    if root and FIGURES:
        Path(root).mkdir(parents=True, exist_ok=True)
        doc = {
            "profile": "full" if FULL else "ci",
            "kinds": {k: dict(v) for k, v in FIGURES.items()},
        }
        Path(root, "malformed_inputs.json").write_text(json.dumps(doc, indent=2, sort_keys=True))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_broken_input_file_is_exit_2_naming_file_and_field(
    kind: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Broken scenario / SLO / game day / expectations / manifest: exit 2 naming the file (and
    the field path when the YAML parsed), never a traceback; a still-valid file passes."""
    work = tmp_path_factory.mktemp(f"fuzz-{kind}")
    _, argv, valid_codes = KINDS[kind]

    @settings(
        max_examples=500 if FULL else EXAMPLES[kind],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=broken(kind))
    def check(case: tuple[bytes, bool]) -> None:
        data, parsed = case
        path = work / f"{kind}.yaml"
        path.write_bytes(data)
        args = [a.replace("{file}", str(path)) for a in argv]
        with contextlib.chdir(work), mock.patch.object(pipeline, "_measure", _no_load):
            result = CliRunner().invoke(cli, args, catch_exceptions=True)
        out = result.output
        counts = FIGURES[kind]
        counts["cases"] += 1
        counts[f"exit {result.exit_code}"] += 1
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            data[:300], repr(result.exception),
        )  # fmt: skip
        assert "Traceback" not in out, out
        assert "internal error" not in out, out
        if result.exit_code == 2:
            assert path.name in out, (data[:300], out)  # the file is named
            counts["named the file"] += 1
            # ... and where in it: a $.field path, `$` (the whole file) for text that is not
            # YAML at all, with the line and column.
            assert f"{path}: " in out, (data[:300], out)
            assert "$" in out.split(f"{path}: ", 1)[1], (data[:300], out)
            counts["named the field path" if parsed else "named $ (unparsable text)"] += 1
        else:
            assert result.exit_code in valid_codes, (data[:300], result.exit_code, out)
            if result.exit_code == 3:
                assert "reached the load step" in out, out

    check()


def test_a_manifest_with_an_empty_api_version_is_exit_2(tmp_path: Path) -> None:
    """Found by the property above: ``apiVersion:`` left empty crashed kubernetes-validate
    (TypeError, "internal error"); it is a missing field: exit 2 naming file and document."""
    bad = tmp_path / "np.yaml"
    bad.write_text("apiVersion:\nkind: NetworkPolicy\nmetadata: {name: x}\n")
    result = CliRunner().invoke(cli, ["netpol", "lint", str(bad)], catch_exceptions=True)
    assert result.exit_code == 2, result.output
    assert f"{bad}: doc[0] $: an object with apiVersion and kind" in result.output


def test_a_manifest_nested_600_deep_is_exit_2(tmp_path: Path) -> None:
    """Found by the property above: 600 nested brackets in a manifest were a RecursionError
    ("internal error", exit 3); now exit 2 naming the file."""
    bad = tmp_path / "np.yaml"
    bad.write_text("a: " + "[" * 600 + "]" * 600 + "\n")
    result = CliRunner().invoke(cli, ["netpol", "lint", str(bad)], catch_exceptions=True)
    assert result.exit_code == 2, result.output
    assert f"{bad}: $: at most 64 levels of nesting" in result.output
