"""A small HTTP service shaped unlike the reference service, to try (and test) slo-harness against
"your own" API: other paths, other bodies, bearer auth, and V2 models served from ONNX files.

Routes (HTTP/1.1 keep-alive, JSON):

- ``GET /healthz``: 200 ``{"status": "ok"}``;
- ``POST /api/risk/v3`` (``Authorization: Bearer TOKEN`` when ``--token`` is set, else 401):
  a JSON object in, ``{"request_id", "risk", "decision"}`` out; 400 on a body that is not a JSON
  object;
- ``PUT /api/blobs``: any bytes in, 201 ``{"stored": N}``;
- ``GET /api/lookup?id=X``: 200 ``{"id": X}``;
- V2: ``GET /v2/health/ready``, ``GET /v2/models/NAME``, ``POST /v2/models/NAME/infer`` for each
  ``--model NAME=FILE.onnx`` (ONNX Runtime), or ``--demo-model NAME`` (a two-input model built
  at start: ``amount`` FP32 [-1, 3] and ``count`` INT64 [-1, 1] -> ``score`` FP32 [-1, 1]; needs
  the ``onnx`` package). ``--host NAME`` makes the V2 routes answer only requests whose Host
  header is NAME (404 otherwise), as a KServe ingress routes by host.

Run: ``python scenarios/examples/example_service.py --port 8765 --token s3cret --demo-model
risk``; it prints ``listening on http://127.0.0.1:PORT`` first (``--port 0``: a free port) and
binds loopback only. Standalone on purpose (stdlib, plus onnxruntime/onnx for V2): it is the
user's service, not part of slo-harness.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

_V2_TYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}
_NUMPY = {"FP32": "float32", "FP64": "float64", "INT32": "int32", "INT64": "int64", "BOOL": "bool"}
MAX_BODY = 1 << 20


def build_demo_model(path: Path) -> Path:
    """A two-input ONNX model: score = sum(amount, axis 1) + float(count)."""
    import onnx
    from onnx import TensorProto, helper

    amount = helper.make_tensor_value_info("amount", TensorProto.FLOAT, ["N", 3])
    count = helper.make_tensor_value_info("count", TensorProto.INT64, ["N", 1])
    score = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [
        helper.make_node("Cast", ["count"], ["count_f"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["amount", "axes"], ["total"], keepdims=1),
        helper.make_node("Add", ["total", "count_f"], ["score"]),
    ]
    graph = helper.make_graph(nodes, "demo", [amount, count], [score], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


class _Model:
    def __init__(self, name: str, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.name = name
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [
            {
                "name": i.name,
                "datatype": _V2_TYPES.get(i.type, "FP32"),
                "shape": [d if isinstance(d, int) else -1 for d in i.shape],
            }
            for i in self.session.get_inputs()
        ]

    def metadata(self) -> dict[str, Any]:
        outputs = [{"name": o.name, "datatype": _V2_TYPES.get(o.type, "FP32"), "shape": [-1, 1]}
                   for o in self.session.get_outputs()]  # fmt: skip
        return {"name": self.name, "versions": ["1"], "platform": "onnxruntime_onnx",
                "inputs": self.inputs, "outputs": outputs}  # fmt: skip

    def infer(self, body: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        feeds = {}
        for spec in body.get("inputs", []):
            datatype = spec["datatype"]
            array = np.asarray(spec["data"], dtype=_NUMPY.get(datatype, "object"))
            feeds[spec["name"]] = array.reshape(spec["shape"])
        missing = {i["name"] for i in self.inputs} - set(feeds)
        if missing:
            raise ValueError(f"missing inputs: {sorted(missing)}")
        declared = {i["name"]: i["datatype"] for i in self.inputs}
        for spec in body["inputs"]:
            if declared.get(spec["name"], spec["datatype"]) != spec["datatype"]:
                raise ValueError(f"input {spec['name']}: expected {declared[spec['name']]}")
        names = [o.name for o in self.session.get_outputs()]
        results = self.session.run(names, feeds)
        return {
            "model_name": self.name,
            "id": body.get("id", ""),
            "outputs": [
                {"name": n, "shape": list(r.shape), "datatype": "FP32", "data": r.ravel().tolist()}
                for n, r in zip(names, results, strict=True)
            ],
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token: str | None = None
    host: str | None = None
    models: dict[str, _Model] = {}  # noqa: RUF012 - set once before serving

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a load test sends thousands of requests

    def _send(self, status: int, doc: object) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length else b""

    def _v2_allowed(self) -> bool:
        return self.host is None or self.headers.get("Host") == self.host

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            return self._send(200, {"status": "ok"})
        if url.path == "/api/lookup":
            return self._send(200, {"id": parse_qs(url.query).get("id", [""])[0]})
        if url.path.startswith("/v2") and self._v2_allowed():
            if url.path in ("/v2/health/ready", "/v2/health/live"):
                return self._send(200, {"ready": True})
            model = self.models.get(url.path.removeprefix("/v2/models/").split("/versions/")[0])
            if model is not None:
                return self._send(200, model.metadata())
        return self._send(404, {"error": f"no route {url.path}"})

    def do_PUT(self) -> None:
        data = self._body()
        if urlsplit(self.path).path == "/api/blobs":
            return self._send(201, {"stored": len(data)})
        return self._send(404, {"error": "no route"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        raw = self._body()
        if path == "/api/risk/v3":
            if self.token is not None and not secrets.compare_digest(
                self.headers.get("Authorization", ""), f"Bearer {self.token}"
            ):
                return self._send(401, {"error": "missing or wrong bearer token"})
            try:
                doc = json.loads(raw)
                if not isinstance(doc, dict):
                    raise ValueError("not an object")
            except ValueError:
                return self._send(400, {"error": "expected a JSON object"})
            risk = (zlib.crc32(json.dumps(doc, sort_keys=True).encode()) % 1000) / 1000
            decision = "review" if risk > 0.9 else "approve"
            return self._send(200, {"request_id": doc.get("request_id"), "risk": risk,
                                    "decision": decision})  # fmt: skip
        if path.startswith("/v2/models/") and path.endswith("/infer") and self._v2_allowed():
            name = path.removeprefix("/v2/models/").removesuffix("/infer").split("/versions/")[0]
            model = self.models.get(name)
            if model is None:
                return self._send(404, {"error": f"unknown model {name}"})
            try:
                return self._send(200, model.infer(json.loads(raw)))
            except (ValueError, KeyError, TypeError) as exc:
                return self._send(400, {"error": str(exc)})
        return self._send(404, {"error": f"no route {path}"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN on /api/risk/v3")
    parser.add_argument("--host", help="V2 routes answer only this Host header (KServe-like)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=FILE.onnx")
    parser.add_argument("--demo-model", action="append", default=[], metavar="NAME")
    args = parser.parse_args(argv)
    models: dict[str, _Model] = {}
    with tempfile.TemporaryDirectory(prefix="example-service-") as scratch:
        for name in args.demo_model:
            models[name] = _Model(name, build_demo_model(Path(scratch) / f"{name}.onnx"))
        for item in args.model:
            name, _, file = item.partition("=")
            models[name] = _Model(name, Path(file))
        Handler.token, Handler.host, Handler.models = args.token, args.host, models
        ThreadingHTTPServer.request_queue_size = 128  # the stdlib's 5 drops bursts of connects
        server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
        server.daemon_threads = True
        print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
