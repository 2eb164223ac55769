"""``audit replay``: re-derive every decision of a verified trail from what its records hold.

For each decision record that the chain verification passed (docs/AUDIT_FORMAT.md, format 3):
decode the float32 vector, score it with the model file whose SHA-256 the record names, map the
score with the thresholds version the record names, derive the reason codes from the vector, and
compare with what the service recorded. A record reproduces when

* ``|score_replayed - score_recorded| <= tolerance`` (default 1e-6: the service records ONNX
  Runtime's float32 output widened exactly to a double, so the same model and runtime give
  a difference of 0; the tolerance absorbs another ONNX Runtime build's summation order);
* the recorded decision is what the thresholds make of the replayed score (at a threshold, a
  replayed score within the tolerance that lands on the other side is accepted when the recorded
  score maps to the recorded decision: the difference is the tolerance, not a different decision);
* the reason codes are equal, in order;
* ``missing_features`` names exactly the NaN columns and ``degraded`` is true exactly when the
  feature-store columns are NaN.

Records are scored in batches of :data:`BATCH_ROWS` as the verifier streams them, so memory stays
bounded for a day of decisions. A record naming a model or thresholds version the caller did not
provide is a usage error (exit 2), not a mismatch: the replay cannot be judged without it.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np

from harness.audit.model import AuditReport, Head
from harness.audit.model_file import ReplayModel, open_model
from harness.audit.rules import VELOCITY_COLUMNS, Thresholds, decide, reason_codes, schema_columns
from harness.audit.verify import (
    VerifiedRecord,
    decode_features,
    stream_names,
    verify_directory,
)
from harness.errors import UsageError

__all__ = [
    "BATCH_ROWS",
    "DEFAULT_TOLERANCE",
    "Mismatch",
    "ReplayReport",
    "Reproduction",
    "replay_directory",
    "reproduce",
]

DEFAULT_TOLERANCE: Final = 1e-6
BATCH_ROWS: Final = 4096
MAX_LISTED: Final = 1000  # mismatches listed in a report (all are counted)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A decision that does not reproduce, where it sits, and every difference found."""

    stream: str
    seq: int
    file: str
    line: int
    transaction_id: str
    differences: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reproduction:
    """What replaying one record gave (the dossier prints it)."""

    values: tuple[float, ...]
    columns: tuple[str, ...]
    score: float
    decision: str
    reason_codes: tuple[str, ...]
    differences: tuple[str, ...]

    @property
    def reproduced(self) -> bool:
        return not self.differences


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """Outcome of a replay: the chain verification and the decision comparison."""

    audit: AuditReport
    replayed: int
    reproduced: int
    mismatch_count: int
    mismatches: tuple[Mismatch, ...]
    tolerance: float
    models: tuple[tuple[str, str], ...]  # (sha256, file) used
    thresholds_versions: tuple[str, ...]
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.audit.ok and self.mismatch_count == 0

    @property
    def records_per_s(self) -> float:
        return self.replayed / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(slots=True)
class _Pending:
    where: VerifiedRecord
    columns: tuple[str, ...]
    vector: bytes


def _differences(
    rec: Mapping[str, object],
    columns: Sequence[str],
    values: Sequence[float],
    score: float,
    th: Thresholds,
    tolerance: float,
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(replayed decision, replayed reason codes, differences) of one record."""
    out: list[str] = []
    recorded = float(rec["score"])  # type: ignore[arg-type]  # verified: a finite number
    decision = decide(score, th)
    if not abs(score - recorded) <= tolerance:
        out.append(f"score {recorded!r} recorded, {score!r} replayed (tolerance {tolerance:g})")
    if decision != rec["decision"] and decide(recorded, th) != rec["decision"]:
        out.append(f"decision {rec['decision']} recorded, {decision} replayed")
    elif decision != rec["decision"]:
        decision = str(rec["decision"])  # at a threshold, within the tolerance
    codes = tuple(reason_codes(values, columns, decision, th))
    if list(codes) != rec["reason_codes"]:
        out.append(f"reason codes {rec['reason_codes']} recorded, {list(codes)} replayed")
    missing = [name for name, v in zip(columns, values, strict=True) if math.isnan(v)]
    if missing != rec["missing_features"]:
        out.append(f"missing_features {rec['missing_features']} recorded, NaN columns {missing}")
    degraded = all(math.isnan(values[columns.index(c)]) for c in VELOCITY_COLUMNS)
    if degraded != rec["degraded"]:
        out.append(f"degraded {rec['degraded']} recorded, feature-store columns say {degraded}")
    return decision, codes, tuple(out)


@dataclass(slots=True)
class _Replayer:
    models: Mapping[str, ReplayModel]
    thresholds: Mapping[str, Thresholds]
    tolerance: float
    #: (model sha256, feature schema) -> records waiting for a batch (one matrix shape each)
    pending: dict[tuple[str, str], list[_Pending]] = field(default_factory=dict)
    checked_models: set[str] = field(default_factory=set)
    replayed: int = 0
    reproduced: int = 0
    mismatch_count: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    used_versions: set[str] = field(default_factory=set)

    def visit(self, where: VerifiedRecord) -> None:
        rec = where.record
        self.replayed += 1
        if rec["v"] != 3:
            self._mismatch(where, ("format version 2 keeps only a hash of the model input",))
            return
        sha = str(rec["model_sha256"])
        model = self._model(sha)
        schema = str(rec["feature_schema"])
        columns = schema_columns(schema)
        self._check_card(model, columns, schema)
        self._thresholds(str(rec["thresholds_version"]))
        vector = where.features if where.features is not None else decode_features(rec["features"])
        assert vector is not None  # the verifier checked it
        if len(vector) != 4 * len(columns):
            detail = f"features hold {len(vector) // 4} values, schema has {len(columns)} columns"
            self._mismatch(where, (detail,))
            return
        batch = self.pending.setdefault((sha, schema), [])
        batch.append(_Pending(where, columns, vector))
        if len(batch) >= BATCH_ROWS:
            self._score((sha, schema))

    def finish(self) -> None:
        for key in list(self.pending):
            self._score(key)

    def _model(self, sha: str) -> ReplayModel:
        model = self.models.get(sha)
        if model is None:
            given = "; ".join(f"{m.path} has SHA-256 {m.sha256}" for m in self.models.values())
            raise UsageError(
                f"the trail's records name model SHA-256 {sha}, but {given}: refusing to "
                "replay with another model (pass --model with the file the service ran)"
            )
        return model

    def _check_card(self, model: ReplayModel, columns: tuple[str, ...], schema: str) -> None:
        if model.sha256 in self.checked_models:
            return
        names = model.card.get("feature_names")
        if names is not None and tuple(names) != columns:
            raise UsageError(
                f"--model {model.path}: its model card's feature_names differ from the columns "
                f"of feature schema {schema!r} the records were written with"
            )
        self.checked_models.add(model.sha256)

    def _thresholds(self, version: str) -> Thresholds:
        th = self.thresholds.get(version)
        if th is None:
            have = ", ".join(sorted(self.thresholds)) or "none"
            raise UsageError(
                f"the trail's records name thresholds version {version!r}; pass --thresholds "
                f"FILE with that version (have: {have})"
            )
        self.used_versions.add(version)
        return th

    def _score(self, key: tuple[str, str]) -> None:
        batch = self.pending.pop(key, [])
        if not batch:
            return
        n_cols = len(batch[0].columns)
        x = np.frombuffer(b"".join(p.vector for p in batch), dtype="<f4")
        matrix = x.reshape(len(batch), n_cols).astype(np.float32, copy=False)
        scores = self.models[key[0]].score(matrix).tolist()
        rows = matrix.tolist()
        for p, score, values in zip(batch, scores, rows, strict=True):
            rec = p.where.record
            th = self.thresholds[str(rec["thresholds_version"])]
            _, _, diffs = _differences(rec, p.columns, values, score, th, self.tolerance)
            if diffs:
                self._mismatch(p.where, diffs)
            else:
                self.reproduced += 1

    def _mismatch(self, where: VerifiedRecord, diffs: tuple[str, ...]) -> None:
        self.mismatch_count += 1
        if len(self.mismatches) < MAX_LISTED:
            rec = where.record
            self.mismatches.append(
                Mismatch(str(rec["stream"]), int(rec["seq"]), where.file, where.line,  # type: ignore[call-overload]
                         str(rec["transaction_id"]), diffs)
            )  # fmt: skip


def replay_directory(
    directory: Path,
    key: bytes,
    models: Sequence[ReplayModel],
    thresholds: Sequence[Thresholds],
    *,
    expect_heads: Sequence[Head] = (),
    tolerance: float = DEFAULT_TOLERANCE,
    scan_pans: bool = True,
    jobs: int = 1,
    only_streams: frozenset[str] | None = None,
) -> ReplayReport:
    """Verify ``directory``'s chains and replay every verified decision record
    (``scan_pans=False``: every chain check, but no PAN scan; ``audit verify`` does that).

    ``jobs > 1`` replays streams in that many processes (streams are independent chains; the
    service writes one per worker process), each opening the model files again."""
    names = sorted(set(stream_names(directory)) | {h.stream for h in expect_heads})
    if only_streams is None and jobs > 1 and len(names) > 1:
        groups = [frozenset(names[i::jobs]) for i in range(min(jobs, len(names)))]
        return _replay_parallel(
            directory, key, models, thresholds, expect_heads, tolerance, scan_pans, groups
        )
    replayer = _Replayer(
        models={m.sha256: m for m in models},
        thresholds={t.version: t for t in thresholds},
        tolerance=tolerance,
    )
    started = time.perf_counter()
    audit = verify_directory(
        directory,
        key,
        tuple(expect_heads),
        visit=replayer.visit,
        scan_pans=scan_pans,
        only_streams=only_streams,
    )
    replayer.finish()
    elapsed = time.perf_counter() - started
    return ReplayReport(
        audit=audit,
        replayed=replayer.replayed,
        reproduced=replayer.reproduced,
        mismatch_count=replayer.mismatch_count,
        mismatches=tuple(sorted(replayer.mismatches, key=lambda m: (m.stream, m.seq))),
        tolerance=tolerance,
        models=tuple((m.sha256, str(m.path)) for m in models),
        thresholds_versions=tuple(sorted(replayer.used_versions)),
        elapsed_s=elapsed,
    )


def _replay_part(
    directory: Path,
    key: bytes,
    model_files: list[Path],
    thresholds: list[Thresholds],
    expect_heads: list[Head],
    tolerance: float,
    scan_pans: bool,
    streams: frozenset[str],
) -> ReplayReport:
    """One process's share of a parallel replay (top level: it is pickled by name)."""
    models = [open_model(p) for p in model_files]
    return replay_directory(
        directory,
        key,
        models,
        thresholds,
        expect_heads=[h for h in expect_heads if h.stream in streams],
        tolerance=tolerance,
        scan_pans=scan_pans,
        only_streams=streams,
    )


def _replay_parallel(
    directory: Path,
    key: bytes,
    models: Sequence[ReplayModel],
    thresholds: Sequence[Thresholds],
    expect_heads: Sequence[Head],
    tolerance: float,
    scan_pans: bool,
    groups: list[frozenset[str]],
) -> ReplayReport:
    started = time.perf_counter()
    # spawn, not fork: the parent holds ONNX Runtime sessions, whose threads do not survive fork
    ctx = multiprocessing.get_context("spawn")
    args = (directory, key, [m.path for m in models], list(thresholds), list(expect_heads))
    with ProcessPoolExecutor(len(groups), mp_context=ctx) as pool:
        futures = [pool.submit(_replay_part, *args, tolerance, scan_pans, g) for g in groups]
        parts = [f.result() for f in futures]
    audits = [p.audit for p in parts]
    audit = AuditReport(
        directory=str(directory),
        ok=all(a.ok for a in audits),
        streams=tuple(sorted((s for a in audits for s in a.streams), key=lambda s: s.stream)),
        record_count=sum(a.record_count for a in audits),
        problems=tuple(
            sorted((p for a in audits for p in a.problems), key=lambda p: p.stream)  # stable
        ),
        pan_lines=sum(a.pan_lines for a in audits),
        ignored=audits[0].ignored,
    )
    mismatches = sorted((m for p in parts for m in p.mismatches), key=lambda m: (m.stream, m.seq))
    return ReplayReport(
        audit=audit,
        replayed=sum(p.replayed for p in parts),
        reproduced=sum(p.reproduced for p in parts),
        mismatch_count=sum(p.mismatch_count for p in parts),
        mismatches=tuple(mismatches[:MAX_LISTED]),
        tolerance=tolerance,
        models=tuple((m.sha256, str(m.path)) for m in models),
        thresholds_versions=tuple(sorted({v for p in parts for v in p.thresholds_versions})),
        elapsed_s=time.perf_counter() - started,
    )


def reproduce(
    record: Mapping[str, object], model: ReplayModel, th: Thresholds, tolerance: float
) -> Reproduction:
    """Replay one verified format-3 record (the dossier's "reproduced" section)."""
    columns = schema_columns(str(record["feature_schema"]))
    vector = decode_features(record["features"])
    if vector is None or len(vector) != 4 * len(columns):
        raise UsageError("the record's features do not match its feature schema")
    x = np.frombuffer(vector, dtype="<f4").reshape(1, len(columns)).astype(np.float32)
    values = tuple(x[0].tolist())
    score = float(model.score(x)[0])
    decision, codes, diffs = _differences(record, columns, values, score, th, tolerance)
    return Reproduction(values, columns, score, decision, codes, diffs)
