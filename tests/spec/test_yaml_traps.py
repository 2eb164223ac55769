"""YAML traps in input files: repeated keys and absurd nesting are config errors at a field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec import MAX_DEPTH, load_scenario, load_slo, parse_yaml

STEADY = Path(__file__).resolve().parents[2] / "scenarios" / "steady.yaml"


def test_a_repeated_key_is_refused_at_its_path(tmp_path: Path) -> None:
    """`rate` twice in one phase is a SpecError at $.phases[1].rate naming the line."""
    text = STEADY.read_text().replace(
        "{name: steady, kind: steady, rate: 300,",
        "{name: steady, kind: steady, rate: 300, rate: 9,",
    )
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_scenario(path)
    assert info.value.path == "$.phases[1].rate"
    assert "each key once" in info.value.expected
    assert info.value.file == str(path)


def test_a_repeated_top_level_key_in_an_slo_is_refused(tmp_path: Path) -> None:
    """Two `name:` lines in an SLO file: the second would silently win; it is an error instead."""
    path = tmp_path / "slo.yaml"
    path.write_text("name: a\nname: b\nobjectives: []\n")
    with pytest.raises(
        SpecError, match=r"\$\.name: each key once per mapping \(repeated at line 2"
    ):
        load_slo(path)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 100_000])
def test_deep_nesting_is_refused_not_crashed(depth: int) -> None:
    """Nesting beyond MAX_DEPTH (even far beyond the recursion limit) is a SpecError."""
    with pytest.raises(SpecError, match="levels of nesting"):
        parse_yaml("a: " + "[" * depth + "]" * depth + "\n", "deep.yaml")


def test_nesting_up_to_the_limit_parses() -> None:
    """MAX_DEPTH levels are accepted (the limit is a bound, not a guess)."""
    data = parse_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "ok.yaml")
    for _ in range(MAX_DEPTH - 1):
        assert isinstance(data, list)
        data = data[0]
    assert data == []


def test_merge_keys_and_distinct_keys_still_work() -> None:
    """YAML merge keys (<<) and ordinary mappings parse as before."""
    data = parse_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n", "m.yaml")
    assert data == {"base": {"x": 1}, "other": {"x": 1, "y": 2}}
