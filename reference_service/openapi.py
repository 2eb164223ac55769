"""OpenAPI 3.1 document of the service, generated from the Structs the decoder uses.

Component schemas come from ``msgspec.json.schema_components`` over the very types that decode the
requests, so the document states what the service accepts. Two rules a Struct cannot express are
added by hand and tested against the live service (tests/service/test_openapi.py): exactly one of
``pan``/``card_token`` (``oneOf``), and the Luhn check (in the description).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from reference_service.schema import MAX_BODY_BYTES, ErrorBody, ScoreRequest, ScoreResponse
from reference_service.v2 import InferRequest, InferResponse

__all__ = ["openapi_document"]

_REF: Final = "#/components/schemas/{name}"


def _json_body(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": _REF.format(name=ref)}}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, **_json_body("ErrorBody")}


_UNAVAILABLE: Final = {
    "description": "Not ready, overloaded (shed) or audit trail unavailable; see Retry-After",
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    **_json_body("ErrorBody"),
}


def _input_errors() -> dict[str, Any]:
    return {
        "400": _error("Malformed JSON"),
        "413": _error(f"Body larger than {MAX_BODY_BYTES} bytes"),
        "415": _error("Content-Type is not application/json"),
        "422": _error("Well-formed JSON that breaks the contract; `field` is the JSON path"),
        "503": _UNAVAILABLE,
    }


def _get(summary: str, ok: str, *, can_503: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": ok}}
    if can_503:
        responses["503"] = {"description": "Not ready"}
    return {"get": {"summary": summary, "responses": responses}}


def _paths() -> dict[str, Any]:
    return {
        "/v1/score": {
            "post": {
                "summary": "Score a card transaction and decide approve/review/decline",
                "requestBody": {"required": True, **_json_body("ScoreRequest")},
                "responses": {
                    "200": {"description": "Decision", **_json_body("ScoreResponse")},
                    **_input_errors(),
                },
            }
        },
        "/v2/models/fraud/infer": {
            "post": {
                "summary": "Open Inference Protocol inference: FP32 [N, F] -> probabilities [N, 2]",
                "requestBody": {"required": True, **_json_body("InferRequest")},
                "responses": {
                    "200": {"description": "Inference result", **_json_body("InferResponse")},
                    "400": _error("Invalid tensor, shape, datatype or name"),
                    "413": _error(f"Body larger than {MAX_BODY_BYTES} bytes"),
                    "415": _error("Content-Type is not application/json"),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/v2/health/live": _get("Liveness", "Process is serving"),
        "/v2/health/ready": _get("Readiness", "Model warmed and audit trail open", can_503=True),
        "/v2": _get("Server metadata", "Server metadata"),
        "/v2/models/fraud": _get("Model metadata", "Model metadata", can_503=True),
        "/v2/models/fraud/ready": _get("Model readiness", "Model ready", can_503=True),
        "/metrics": _get("Prometheus metrics", "Text exposition format"),
        "/openapi.json": _get("This document", "OpenAPI 3.1 document"),
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document as a JSON-ready dict."""
    _, components = msgspec.json.schema_components(
        [ScoreRequest, ScoreResponse, ErrorBody, InferRequest, InferResponse], ref_template=_REF
    )
    score = components["ScoreRequest"]
    # Exactly one card reference; a present key must be a string (null is rejected).
    score["oneOf"] = [{"required": ["pan"]}, {"required": ["card_token"]}]
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "slo-harness reference fraud-scoring service",
            "version": version,
            "description": "Unknown request fields are ignored. A PAN is tokenised on arrival "
            "(HMAC-SHA256) and never stored, logged or echoed.",
        },
        "paths": _paths(),
        "components": {"schemas": components},
    }
