"""A heavier model for overload tests: the fraud model plus an ONNX ballast sized to N ms of CPU.

Why: the overload test needs a service whose capacity a Python load source on a 2-core machine
can offer three times over (about 250 requests/s, not 2,500), so the model must be slower. The
earlier hook spun a Python loop in the handler for N ms of thread CPU, holding the GIL: no ONNX
model behaves like that (ONNX Runtime releases the GIL for the whole of ``run``), so it could
neither show what running the model off the event loop buys nor be offloaded honestly. The
ballast is a real ONNX graph that ONNX Runtime runs natively, under the scorer's own session
options (:func:`~reference_service.model.scorer.session_options`: one intra-op thread, so it
runs on the calling thread, GIL released), in the same call as the fraud model. The service's
answers are unchanged: the fraud model still scores every request, and the ballast's output is
thrown away.

The graph (``ballast.onnx``, a few hundred bytes, regenerate with ``python -m
reference_service.model.ballast``; needs the ``train`` extra for ``onnx``): ``Loop`` over
``trips`` iterations of ``y = Tanh(MatMul(y, W))`` with ``y`` float32 [16, 256] and ``W``
[256, 256] computed in-graph from constants (``|Sin|`` of a ``Range``, scaled: ONNX Runtime
folds it into an initializer at load; positive weights keep ``y`` near tanh's fixed point, about
0.98, so no iteration meets denormal numbers, whose arithmetic is many times slower). One
iteration is about a million multiply-adds in MLAS's SGEMM.
``trips`` is calibrated at load (:func:`calibrate`) from the thread CPU time of runs at two trip
counts (fixed cost + cost per iteration), so one call burns ``cpu_ms`` of CPU within a few
percent on the machine it runs on. Batches pay the ballast once per call, not per row.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .features import N_FEATURES
from .scorer import F32Matrix, ModelInfo, Scorer, session_options

__all__ = ["BallastScorer", "build_ballast", "calibrate", "default_ballast_path"]

ROWS: Final = 16
WIDTH: Final = 256
#: Trip counts of the calibration's two points (low, high) and runs per point (median).
_CAL_LOW: Final = 2
_CAL_RUNS: Final = 5


def default_ballast_path() -> Path:
    """The committed ``ballast.onnx`` next to this module."""
    return Path(__file__).resolve().with_name("ballast.onnx")


def build_ballast() -> bytes:
    """The ballast graph, serialised (needs ``onnx``: the ``train`` extra)."""
    import onnx
    from onnx import TensorProto, helper

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["y_in", "w"], ["mm"]),
            helper.make_node("Tanh", ["mm"], ["y_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "ballast_step",
        [
            helper.make_tensor_value_info("i", i64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("y_in", f32, [ROWS, WIDTH]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("y_out", f32, [ROWS, WIDTH]),
        ],
    )
    scalar = [helper.make_tensor(n, f32, [], [v]) for n, v in (("zero", 0.0), ("step", 1.0))]
    nodes = [
        helper.make_node("Range", ["zero", "count", "step"], ["r"]),
        helper.make_node("Sin", ["r"], ["sin"]),
        helper.make_node("Abs", ["sin"], ["s"]),
        helper.make_node("Mul", ["s", "scale"], ["ws"]),
        helper.make_node("Reshape", ["ws", "w_shape"], ["w"]),
        helper.make_node(
            "ConstantOfShape", ["y_shape"], ["y0"], value=helper.make_tensor("v", f32, [1], [0.5])
        ),
        helper.make_node("Loop", ["trips", "", "y0"], ["y"], body=body),
    ]
    graph = helper.make_graph(
        nodes,
        "ballast",
        [helper.make_tensor_value_info("trips", i64, [])],
        [helper.make_tensor_value_info("y", f32, [ROWS, WIDTH])],
        initializer=[
            *scalar,
            helper.make_tensor("count", f32, [], [float(WIDTH * WIDTH)]),
            helper.make_tensor("scale", f32, [], [1.0 / 64.0]),
            helper.make_tensor("w_shape", i64, [2], [WIDTH, WIDTH]),
            helper.make_tensor("y_shape", i64, [2], [ROWS, WIDTH]),
        ],
    )
    model = helper.make_model(
        graph, producer_name="slo-harness ballast", opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def _session(path: Path) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(
        path.read_bytes(), session_options(), providers=["CPUExecutionProvider"]
    )


def _cpu_s(session: Any, trips: int) -> float:
    """Median thread CPU seconds of one run at ``trips`` iterations."""
    feed = {"trips": np.array(trips, dtype=np.int64)}
    runs = []
    for _ in range(_CAL_RUNS):
        c = time.thread_time()
        session.run(None, feed)
        runs.append(time.thread_time() - c)
    runs.sort()
    return runs[len(runs) // 2]


def calibrate(session: Any, cpu_s: float) -> int:
    """Trips that make one run of ``session`` cost ``cpu_s`` of CPU (at least 1)."""
    session.run(None, {"trips": np.array(_CAL_LOW, dtype=np.int64)})  # first run allocates
    low = _cpu_s(session, _CAL_LOW)
    high_trips = _CAL_LOW + 16
    high = _cpu_s(session, high_trips)
    per_trip = max(1e-7, (high - low) / (high_trips - _CAL_LOW))
    fixed = max(0.0, low - _CAL_LOW * per_trip)
    trips = max(1, round((cpu_s - fixed) / per_trip))
    # One check at the chosen count corrects a per-trip cost the small runs misjudged.
    got = _cpu_s(session, trips)
    if got > 0:
        trips = max(1, round(trips * cpu_s / got))
    return trips


class BallastScorer:
    """A :class:`Scorer` that runs the ballast (``trips`` iterations), then ``inner``."""

    def __init__(self, inner: Scorer, session: Any, trips: int) -> None:
        self._inner = inner
        self._session = session
        self._feed = {"trips": np.array(trips, dtype=np.int64)}
        self.trips = trips
        self.info: ModelInfo = inner.info

    @classmethod
    def load(cls, inner: Scorer, cpu_ms: float, path: Path | None = None) -> BallastScorer:
        """``inner`` made heavier by ``cpu_ms`` of CPU per call (blocking: calibrates)."""
        session = _session(path or default_ballast_path())
        return cls(inner, session, calibrate(session, cpu_ms / 1000.0))

    def _ballast(self) -> None:
        self._session.run(None, self._feed)

    def score(self, x: F32Matrix) -> npt.NDArray[np.floating[Any]]:
        self._ballast()
        return self._inner.score(x)

    def probabilities(self, x: F32Matrix) -> F32Matrix:
        self._ballast()
        return self._inner.probabilities(x)

    def score_one(self, vector: npt.NDArray[np.float32]) -> float:
        return float(self.score(vector.reshape(1, N_FEATURES))[0])

    def warm(self, n: int = 200) -> None:
        """Warm the inner model ``n`` times and the ballast a few times."""
        self._inner.warm(n)
        for _ in range(3):
            self._ballast()


def main() -> int:
    """Write ``ballast.onnx`` next to this module."""
    default_ballast_path().write_bytes(build_ballast())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
