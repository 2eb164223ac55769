"""--export chaos-mesh: manifests validated against the project's schema; golden files."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from harness.chaos.gameday.chaosmesh import (
    chaos_mesh_schema,
    export_chaos_mesh,
    render_manifests,
    validate_manifest,
)
from harness.spec.gameday import load_gameday

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios" / "gamedays").glob("*.yaml"))
GOLDEN = Path(__file__).with_name("golden") / "chaos-mesh"


def test_the_schema_is_valid_draft_2020_12() -> None:
    """chaosmesh.schema.json is itself a valid JSON Schema."""
    jsonschema.Draft202012Validator.check_schema(chaos_mesh_schema())


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_export_of_shipped_gamedays_matches_golden(path: Path, tmp_path: Path) -> None:
    """Each shipped game day exports to the committed manifests (UPDATE_GOLDEN=1 rewrites)."""
    written = export_chaos_mesh(load_gameday(path), tmp_path / "out")
    golden = GOLDEN / path.stem
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.mkdir(parents=True, exist_ok=True)
        for old in golden.iterdir():
            old.unlink()
        for p in written:
            (golden / p.name).write_bytes(p.read_bytes())
    assert sorted(p.name for p in written) == sorted(p.name for p in golden.iterdir())
    for p in written:
        assert p.read_text() == (golden / p.name).read_text(), p.name
        if p.suffix == ".yaml":
            validate_manifest(yaml.safe_load(p.read_text()))


def _workflow_and_chaos() -> tuple[dict[str, Any], dict[str, Any]]:
    files, _ = render_manifests(
        load_gameday(ROOT / "scenarios/gamedays/feature-store-latency.yaml")
    )
    chaos = next(m for n, m in files.items() if n != "workflow.yaml")
    return files["workflow.yaml"], chaos


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m["spec"]["delay"].update(latncy=m["spec"]["delay"].pop("latency")), "latncy"),
        (lambda m: m["spec"].update(action="delya"), "delya"),
        (lambda m: m["spec"].update(duration="60 seconds"), "does not match"),
        (lambda m: m["spec"].update(mode="everything"), "everything"),
        (lambda m: m["spec"]["delay"].pop("latency"), "latency"),
        (lambda m: m.update(apiVersion="chaos-mesh.org/v1"), "chaos-mesh.org/v1alpha1"),
        (lambda m: m["metadata"].update(name="Feature Store"), "does not match"),
    ],
)
def test_a_typo_in_a_network_chaos_fails(mutate: Any, message: str) -> None:
    """A misspelled field, an unknown action, a bad duration or name: the schema says where."""
    _, chaos = _workflow_and_chaos()
    bad = copy.deepcopy(chaos)
    mutate(bad)
    with pytest.raises(ValueError, match=message):
        validate_manifest(bad)


def test_a_typo_in_the_workflow_fails() -> None:
    """A Suspend without deadline or a misspelled template type is rejected."""
    workflow, _ = _workflow_and_chaos()
    bad = copy.deepcopy(workflow)
    suspend = next(t for t in bad["spec"]["templates"] if t["templateType"] == "Suspend")
    suspend.pop("deadline")
    with pytest.raises(ValueError, match="deadline"):
        validate_manifest(bad)
    bad = copy.deepcopy(workflow)
    bad["spec"]["templates"][0]["templateType"] = "Paralel"
    with pytest.raises(ValueError, match="Paralel"):
        validate_manifest(bad)


def test_the_workflow_replays_the_timeline() -> None:
    """One Serial branch per step: Suspend for `at`, then the chaos node for `for`."""
    workflow, chaos = _workflow_and_chaos()
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    entry = templates[workflow["spec"]["entry"]]
    assert entry["templateType"] == "Parallel"
    branch = templates[entry["children"][0]]
    wait, node = (templates[c] for c in branch["children"])
    assert (wait["templateType"], wait["deadline"]) == ("Suspend", "30s")
    assert (node["templateType"], node["deadline"]) == ("NetworkChaos", "60s")
    assert node["networkChaos"]["delay"] == {
        "latency": "200ms",
        "jitter": "20ms",
        "correlation": "0",
    }
    assert node["networkChaos"]["target"]["selector"]["labelSelectors"] == {"app": "feature-store"}
    assert chaos["spec"]["duration"] == "60s"


def test_kinds_without_an_equivalent_are_listed_not_exported(tmp_path: Path) -> None:
    """A slicer has no Chaos Mesh equivalent: UNSUPPORTED.txt names it, no manifest is written;
    approximations carry an annotation."""
    gd = tmp_path / "gd.yaml"
    gd.write_text(
        "title: t\nowner: o\nhypothesis: "
        + json.dumps(str(ROOT / "scenarios/slo/default.yaml"))
        + "\nload: "
        + json.dumps(str(ROOT / "scenarios/steady.yaml"))
        + "\nblast_radius: {targets: [service], max_concurrent_faults: 2}\ntimeline:\n"
        "  - {name: slice, at: 10s, for: 5s, fault: {kind: slicer, average_size_bytes: 64}}\n"
        "  - {name: errs, at: 10s, for: 5s, fault: {kind: http, error_rate: 0.05}}\n"
    )
    written = export_chaos_mesh(load_gameday(gd), tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == ["01-errs.yaml", "UNSUPPORTED.txt", "workflow.yaml"]
    assert "slice" in (tmp_path / "out" / "UNSUPPORTED.txt").read_text()
    http = yaml.safe_load((tmp_path / "out" / "01-errs.yaml").read_text())
    assert "per-request share" in http["metadata"]["annotations"]["slo-harness/approximation"]
