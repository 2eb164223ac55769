"""Driving a service that is not the reference service: the example service (other paths, other
bodies, bearer auth, a two-input V2 model built here with ONNX) under a scenario that uses every
body kind, through `slo-harness run`, into the normal report family; the bearer token never
reaches an artifact or the console."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from run_support import generator_made_invalid

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "scenarios" / "examples" / "example_service.py"
SECRET = "tok-5f1e9c2a7d3b"  # what must never appear in an artifact

SCENARIO = """\
name: any-service
slo: slo.yaml
health: {path: /healthz}
payload: {seed: 11, cards: 100}
max_concurrency: 16
requests:
  - name: risk
    weight: 4
    method: POST
    path: /api/risk/v3
    headers: {Authorization: "Bearer ${env:ANY9_TOKEN}"}
    body:
      template: '{"request_id": "{{ uuid() }}", "seq": {{ seq }}, "card": "{{ row.card }}",
        "amount_cents": {{ randint(1, 500000) }}, "ratio": {{ uniform(0, 1) }},
        "country": "{{ choice(["DE", "FR", "US"]) }}", "at": {{ now_ms() }},
        "iso": "{{ now_iso() }}"}'
      data: {file: rows.csv, order: sequential}
    expect: {status: [200], body: {json_key: decision, one_of: [approve, review]}}
  - name: fraud
    weight: 1
    path: /api/risk/v3
    headers: {Authorization: "Bearer ${env:ANY9_TOKEN}"}
    body: fraud_transaction
  - name: noauth
    weight: 1
    method: POST
    path: /api/risk/v3
    body: {template: '{"x": {{ seq }}}'}
  - name: blob
    weight: 1
    method: PUT
    path: /api/blobs
    body: {file: blob.bin}
    expect: {status: [201]}
  - name: lookup
    weight: 1
    method: GET
    path: /api/lookup?id=42
    body: none
    expect: {body: {json_key: id, one_of: ["42"]}}
  - name: model
    weight: 2
    body: {v2_infer: {model: pair, dynamic_size: 2}}
    expect: {body: {json_key: outputs.0.data}}
  - name: model_file
    weight: 1
    body: {v2_infer: {model: pair, version: "1", inputs: inputs.jsonl}}
  - name: hook
    weight: 1
    factory: any9_factory:build
phases:
  - {name: steady, kind: steady, rate: 120, duration_s: 3}
"""
SLO = """\
name: any
objectives:
  - {metric: latency, percentile: p50, op: "<", threshold_ms: 1000, endpoint: risk}
"""
FACTORY = """\
def build(rng, index):
    return "GET", f"/api/lookup?id={index}", {"X-Index": str(index)}, None
"""


def _model(path: Path) -> None:
    """A V2 model with two inputs of different datatypes: x FP64 [-1, 2], n INT32 [-1, 1]."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["n"], ["n_d"], to=TensorProto.DOUBLE),
            helper.make_node("ReduceSum", ["x", "axes"], ["s"], keepdims=1),
            helper.make_node("Add", ["s", "n_d"], ["y"]),
        ],
        "pair",
        [
            helper.make_tensor_value_info("x", TensorProto.DOUBLE, ["N", 2]),
            helper.make_tensor_value_info("n", TensorProto.INT32, ["N", 1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.DOUBLE, ["N", 1])],
        initializer=[axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("svc")
    _model(root / "pair.onnx")
    proc = subprocess.Popen(
        [sys.executable, str(SERVICE), "--port", "0", "--token", SECRET,
         "--model", f"pair={root / 'pair.onnx'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        yield line.split()[-1]
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _files(root: Path) -> None:
    (root / "slo.yaml").write_text(SLO)
    (root / "scenario.yaml").write_text(SCENARIO)
    (root / "rows.csv").write_text("card,amount\n" + "".join(f"c{i},{i}\n" for i in range(5)))
    (root / "blob.bin").write_bytes(bytes(range(256)))
    inputs = {
        "inputs": [
            {"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [0.5, 1.5]},
            {"name": "n", "shape": [1, 1], "datatype": "INT32", "data": [3]},
        ]
    }
    (root / "inputs.jsonl").write_text(json.dumps(inputs) + "\n")
    (root / "any9_factory.py").write_text(FACTORY)


def test_every_body_kind_against_another_service(service: str, tmp_path: Path) -> None:
    """Every body kind reaches the example service as intended (the report shows 200/201 only
    where auth was sent, 401 with its body where it was not), and the token is in no artifact."""
    _files(tmp_path)
    out = tmp_path / "out"
    env = {**os.environ, "ANY9_TOKEN": SECRET, "SLO_HARNESS_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(tmp_path / "scenario.yaml"),
         "--target", service, "--out", str(out)],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    # The subject is what each body kind sent, not the verdict: 3 only if the generator was late.
    code, output = proc.returncode, proc.stdout + proc.stderr
    assert code in (0, 1) or generator_made_invalid(code, output, out), output
    assert (out / "report.json").exists(), proc.stderr + proc.stdout
    report = json.loads((out / "report.json").read_text())
    endpoints = {e["endpoint"]: e for e in report["phases"][0]["endpoints"]}
    assert set(endpoints) == {
        "risk", "fraud", "noauth", "blob", "lookup", "model", "model_file", "hook"
    }  # fmt: skip
    for name, status in (("risk", "200"), ("fraud", "200"), ("blob", "201"), ("lookup", "200"),
                         ("model", "200"), ("model_file", "200"), ("hook", "200")):  # fmt: skip
        responses = endpoints[name]["responses"]
        assert set(responses["statuses"]) == {status}, (name, responses)
        assert responses["failures"] == [], (name, responses)
        assert endpoints[name]["requests"]["ok"] == endpoints[name]["requests"]["sent"] > 0
    noauth = endpoints["noauth"]["responses"]
    assert set(noauth["statuses"]) == {"401"}
    (failure,) = noauth["failures"]
    assert failure["kind"] == "HTTP 401"
    assert "bearer token" in failure["samples"][0]
    assert report["provenance"]["secrets_used"] == ["env:ANY9_TOKEN"]
    # The secret appears nowhere: not in a file of the report family, not on the console.
    assert SECRET not in proc.stdout + proc.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    summary = (out / "summary.md").read_text()
    assert "### Responses" in summary
    assert "HTTP 401" in summary
    assert "HTTP 401" in (out / "report.html").read_text()


def test_v2_metadata_is_read_by_name_and_missing_metadata_names_the_request(service: str) -> None:
    """The two-input model's metadata comes back with both datatypes; a v2_infer entry naming a
    model the target does not serve is a usage error (exit 2) naming the request."""
    from harness.errors import UsageError
    from harness.spec import BodySpec, HealthSpec, RequestSpec, V2InferBody
    from harness.target import fetch_models, probe_target

    pair = RequestSpec(name="m", body=BodySpec(v2_infer=V2InferBody(model="pair")))
    (model,) = fetch_models(service, (pair,))
    assert [(t.name, t.datatype, t.shape) for t in model.inputs] == [
        ("x", "FP64", (-1, 2)),
        ("n", "INT32", (-1, 1)),
    ]
    missing = RequestSpec(name="other", body=BodySpec(v2_infer=V2InferBody(model="nope")))
    with pytest.raises(UsageError, match=r"requests\[1\] \(other\).*no V2 model metadata") as info:
        fetch_models(service, (pair, missing))
    assert info.value.exit_code == 2
    # A scenario's own readiness path; no model named: the target serves none of the default's.
    info = probe_target(service, timeout_s=5, health=HealthSpec(path="/healthz"))
    assert (info.url, info.model_name) == (service, None)
