"""Every route of the service over real HTTP on a loopback port."""

from __future__ import annotations

import httpx
import pytest
from svc_support import Service, make_pan, transaction

N_FEATURES = 15


def test_live_and_ready(service: Service) -> None:
    """Liveness and readiness answer 200 once the model is warmed and the audit trail open."""
    assert service.client.get("/v2/health/live").json() == {"live": True}
    r = service.client.get("/v2/health/ready")
    assert (r.status_code, r.json()) == (200, {"ready": True})


def test_server_and_model_metadata(service: Service) -> None:
    """/v2 and /v2/models/fraud describe the server and the model's tensors."""
    server = service.client.get("/v2").json()
    assert server["name"]
    assert server["version"]
    assert server["audit_mode"] == "durable"
    meta = service.client.get("/v2/models/fraud").json()
    assert meta["name"] == "fraud"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, N_FEATURES]}]
    assert meta["outputs"][0]["name"] == "probabilities"
    ready = service.client.get("/v2/models/fraud/ready")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True


def test_score_with_pan_returns_token_and_never_the_pan(service: Service) -> None:
    """A PAN request is decided; the response carries a token, not the PAN."""
    pan = make_pan()
    r = service.score(pan=pan)
    assert r.status_code == 200, r.text
    body = r.json()
    assert pan not in r.text
    assert pan[:-4] not in r.text
    assert set(body) >= {
        "transaction_id",
        "score",
        "decision",
        "reason_codes",
        "model_version",
        "degraded",
        "latency_ms",
        "thresholds_version",
    }
    assert 0.0 <= body["score"] <= 1.0
    assert body["decision"] in {"approve", "review", "decline"}
    assert body["degraded"] is False
    assert body["card_token"].startswith("ct_")
    assert r.headers["x-request-id"] == body["request_id"]
    again = service.score(pan=pan).json()
    assert again["card_token"] == body["card_token"], "token must be stable per card"
    assert service.score(pan=make_pan()).json()["card_token"] != body["card_token"]


def test_score_with_token_and_unknown_fields(service: Service) -> None:
    """A card token is accepted instead of a PAN and unknown fields are ignored."""
    r = service.score(card_token="tok_abcdefgh12", loyalty_tier="gold", account_age_days=3)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["card_token"] == "tok_abcdefgh12"
    assert "NEW_ACCOUNT" in body["reason_codes"]


def test_infer_valid_nested_and_flat(service: Service) -> None:
    """V2 infer scores an FP32 [N, F] tensor (nested or flat) and echoes the id."""
    rows = [[0.0] * N_FEATURES, [1.0] * N_FEATURES]
    for data in (rows, [v for row in rows for v in row]):
        req = {
            "id": "req-7",
            "inputs": [
                {"name": "input", "shape": [2, N_FEATURES], "datatype": "FP32", "data": data}
            ],
        }
        r = service.client.post("/v2/models/fraud/infer", json=req)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["id"] == "req-7"
        assert out["model_name"] == "fraud"
        (tensor,) = out["outputs"]
        assert tensor["name"] == "probabilities"
        assert tensor["shape"] == [2, 2]
        probs = tensor["data"]
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert abs(probs[0] + probs[1] - 1.0) < 1e-5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"shape": [1, 3]}, "$.inputs[0].shape"),
        ({"datatype": "INT64"}, "$.inputs[0].datatype"),
        ({"name": "nope"}, "$.inputs[0].name"),
        ({"data": ["x"] * N_FEATURES}, "$.inputs[0].data"),
        ({"data": [0.0] * (N_FEATURES - 1)}, "$.inputs[0].data"),
        # A malformed nested row is refused, not dropped (dropping it used to make these pass).
        ({"data": [[0.0] * N_FEATURES, [0.0] * (N_FEATURES - 1)]}, "$.inputs[0].data[1]"),
        ({"data": [[0.0] * N_FEATURES, []]}, "$.inputs[0].data[1]"),
        (
            {
                "shape": [2, N_FEATURES],
                "data": [[0.0] * N_FEATURES, [1.0] * (N_FEATURES + 1), [0.0] * N_FEATURES],
            },
            "$.inputs[0].data[1]",
        ),
        ({"shape": [1, N_FEATURES], "data": [[0.0] * N_FEATURES] * 2}, "$.inputs[0].data"),
    ],
)
def test_infer_rejects_bad_tensors(service: Service, change: dict[str, object], field: str) -> None:
    """Wrong shape, datatype, name or data get a 400 with {"error"} naming the field."""
    tensor: dict[str, object] = {"name": "input", "shape": [1, N_FEATURES], "datatype": "FP32"}
    tensor["data"] = [0.0] * N_FEATURES
    tensor.update(change)
    r = service.client.post("/v2/models/fraud/infer", json={"inputs": [tensor]})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert r.json()["error"]


def test_infer_rejects_unknown_output(service: Service) -> None:
    """Asking for an output the model does not have is a 400."""
    tensor = {"name": "input", "shape": [1, N_FEATURES], "datatype": "FP32", "data": [0] * 15}
    req = {"inputs": [tensor], "outputs": [{"name": "logits"}]}
    r = service.client.post("/v2/models/fraud/infer", json=req)
    assert r.status_code == 400
    assert "output" in r.json()["error"]


def test_metrics_exposes_the_service_metrics(service: Service) -> None:
    """/metrics has requests, latency, decisions, in-flight, shed, degraded, audit, model info."""
    assert service.score().status_code == 200
    text = service.client.get("/metrics").text
    for name in (
        'slo_http_requests_total{route="/v1/score",status="200"}',
        "slo_http_request_duration_seconds_bucket",
        "slo_decisions_total",
        "slo_in_flight_requests",
        "slo_admission_limit",
        "slo_audit_queue_depth",
        "slo_audit_fsync_seconds_count",
        'slo_model_info{name="fraud"',
        "# TYPE slo_shed_requests_total counter",
        "# TYPE slo_degraded_decisions_total counter",
    ):
        assert name in text, name


def test_metrics_labels_carry_no_card_data(service: Service) -> None:
    """No PAN digits or token appears in the metrics exposition."""
    pan = make_pan()
    token = service.score(pan=pan).json()["card_token"]
    text = service.client.get("/metrics").text
    assert pan not in text
    assert pan[-4:] + '"' not in text
    assert token not in text


def test_openapi_document_is_served(service: Service) -> None:
    """/openapi.json is an OpenAPI 3.1 document listing every route."""
    doc = service.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for path in ("/v1/score", "/v2/models/fraud/infer", "/v2/health/ready", "/metrics"):
        assert path in doc["paths"]


def test_unknown_route_and_wrong_method(service: Service) -> None:
    """Unknown paths are 404 and wrong methods 405 with Allow, both as JSON errors."""
    r = service.client.get("/v1/nope")
    assert r.status_code == 404
    assert "error" in r.json()
    r = service.client.get("/v1/score")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    r = service.client.post("/v2/health/live", json={})
    assert r.status_code == 405


def test_keep_alive_connection_serves_many_requests(service: Service) -> None:
    """One keep-alive connection serves consecutive requests (no per-request reconnect)."""
    with httpx.Client(base_url=service.base, timeout=5.0) as c:
        codes = [c.post("/v1/score", json=transaction()).status_code for _ in range(20)]
    assert codes == [200] * 20
