"""The decision path of ``POST /v1/score``: validate, tokenise, features, score, decide, audit.

Order matters for the guarantees:

* everything that can reject the request (decoding, codes, PAN) runs before any side effect, so a
  bad request leaves no audit record and no velocity entry;
* the audit record is appended *before* the response is built, and in durable mode ``append``
  returns only after the record's fsync: a decision is never sent without its record. If the
  trail fails, the caller answers 503 and the decision is not sent;
* the transaction is recorded into the velocity store only after its record is durable, so
  velocity never counts a decision the audit trail does not have.

The feature vector is encoded into one preallocated row (the event loop runs one request's
synchronous section at a time, so sharing it is safe; no ``await`` sits between encoding and
scoring). CPU time of the synchronous sections is reported to admission control.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Protocol

import msgspec
import numpy as np
import numpy.typing as npt
from msgspec import UNSET

from reference_service import timing
from reference_service.audit import AuditRecord
from reference_service.decision import Thresholds, decide, reason_codes
from reference_service.featurestore import BudgetedFeatures
from reference_service.model.features import (
    FEATURE_NAMES,
    FEATURE_SCHEMA,
    N_FEATURES,
    USD_PER_UNIT,
    RawFeatures,
    encode,
)
from reference_service.model.scorer import Scorer
from reference_service.pan import CardRef, PanError, PanTokenizer
from reference_service.schema import RequestError, ScoreResponse, decode_score_request

__all__ = ["AuditSink", "ScorePipeline"]

_encoder: Final = msgspec.json.Encoder()


class AuditSink(Protocol):
    """Where decision records go (``reference_service.audit.AuditTrail`` in production)."""

    async def append(self, rec: AuditRecord) -> None: ...


class _UtcClock:
    """RFC 3339 UTC timestamps with microseconds; the formatted second is cached (strftime costs
    about 10 us, a third of the handler's own time)."""

    __slots__ = ("_prefix", "_sec")

    def __init__(self) -> None:
        self._sec = -1
        self._prefix = ""

    def iso(self, unix_s: float) -> str:
        whole = int(unix_s)
        if whole != self._sec:
            self._sec = whole
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        return f"{self._prefix}.{int((unix_s - whole) * 1_000_000):06d}Z"


def _hour_utc(ts: datetime) -> int:
    """UTC hour of an offset-aware timestamp, by arithmetic: ``astimezone`` overflows at the edges
    of the datetime range (year 1 / 9999 with an offset), which must not turn into a 500."""
    if ts.tzinfo is UTC:  # "Z", the usual case: the hour itself (the arithmetic below costs ~2 us)
        return ts.hour
    off = ts.utcoffset()
    off_min = int(off.total_seconds()) // 60 if off is not None else 0
    return ((ts.hour * 60 + ts.minute - off_min) // 60) % 24


_SHA256: Final = hashlib.sha256()


def _sha256_hex(data: bytes) -> str:
    """``hashlib.sha256(data).hexdigest()`` from a copied state: constructing by name makes
    OpenSSL 3 look the algorithm up again (``EVP_MD_fetch``), measured as the costlier part of
    the feature hash on the service's request path."""
    h = _SHA256.copy()
    h.update(data)
    return h.hexdigest()


#: NaN pattern of an encoded row (``np.isnan(row).tobytes()``) -> the names of its NaN columns.
#: Few patterns exist (what a request may leave out, and degraded velocity), so it stays small.
_MISSING: dict[bytes, tuple[str, ...]] = {}


def _missing(row: npt.NDArray[np.float32]) -> tuple[str, ...]:
    """Names of the NaN (missing) columns of ``row``, in column order."""
    key = np.isnan(row).tobytes()
    names = _MISSING.get(key)
    if names is None:
        names = tuple(name for name, nan in zip(FEATURE_NAMES, key, strict=True) if nan)
        if len(_MISSING) < 4096:
            _MISSING[key] = names
    return names


class ScorePipeline:
    """Scores one request body into an encoded :class:`ScoreResponse`."""

    def __init__(
        self,
        *,
        tokenizer: PanTokenizer,
        features: BudgetedFeatures,
        scorer: Scorer,
        thresholds: Thresholds,
        audit: AuditSink,
        on_decision: Callable[[str], None],
        on_cpu: Callable[[float], None],
    ) -> None:
        self._tokenizer = tokenizer
        self._features = features
        self._scorer = scorer
        self._th = thresholds
        self._audit = audit
        self._on_decision = on_decision
        self._on_cpu = on_cpu
        self._x = np.empty((1, N_FEATURES), dtype=np.float32)
        self._clock = _UtcClock()
        info = scorer.info
        self._model_version = info.version
        self._model_sha = info.sha256

    def _card(self, pan: str | None, token: str | None) -> CardRef:
        if pan is not None:
            try:
                return self._tokenizer.tokenize(pan)
            except PanError as exc:
                raise RequestError(422, str(exc), "$.pan") from None
        assert token is not None  # decode_score_request guarantees exactly one
        return CardRef(token=token, last4=None)

    async def handle(self, body: bytes, request_id: str, t0: float) -> bytes:
        """Decide on ``body``; ``t0`` is the request's arrival (``perf_counter``).

        Raises RequestError for bad input and the audit trail's error when the record could not
        be written (the caller answers 503 and sends no decision).
        """
        c0 = time.perf_counter()
        req = decode_score_request(body)
        timing.lap("decode")
        card = self._card(
            req.pan if req.pan is not UNSET else None,
            req.card_token if req.card_token is not UNSET else None,
        )
        now = time.time()
        cpu = time.perf_counter() - c0
        timing.lap("tokenise")

        velocity = await self._features.velocity(card.token, now)
        timing.lap("features")
        if velocity is None:
            timing.mark_degraded()

        c1 = time.perf_counter()
        raw = RawFeatures(
            amount=req.amount,
            currency=req.currency,
            merchant_category_code=req.merchant_category_code,
            card_present=req.card_present,
            merchant_country=req.merchant_country,
            billing_country=req.billing_country,
            ip_country=req.ip_country,
            hour_utc=_hour_utc(req.timestamp),
            account_age_days=req.account_age_days,
            device_known=req.device_known,
            velocity=velocity,
        )
        x = self._x
        encode(raw, out=x[0])
        score = float(self._scorer.score(x)[0])
        decision = decide(score, self._th)
        # The audit record keeps the model input exactly as scored; reasons and the missing list
        # are read from the same float32 values, so a replay of the record re-derives them.
        as_scored = x[0].astype("<f4", copy=False).tobytes()
        values = x[0].tolist()
        reasons = reason_codes(values, decision, self._th)
        missing = _missing(x[0])
        degraded = velocity is None
        decided_ms = (time.perf_counter() - t0) * 1000.0  # to the decision, before the audit wait
        rec = AuditRecord(
            ts=self._clock.iso(now),
            request_id=request_id,
            transaction_id=req.transaction_id,
            card_token=card.token,
            last4=card.last4,
            model_version=self._model_version,
            model_sha256=self._model_sha,
            feature_hash=_sha256_hex(as_scored),
            score=score,
            decision=decision.value,
            thresholds_version=self._th.version,
            reason_codes=tuple(reasons),
            degraded=degraded,
            latency_ms=round(decided_ms, 3),
            features=as_scored,
            feature_schema=FEATURE_SCHEMA,
            missing_features=missing,
        )
        cpu += time.perf_counter() - c1
        timing.lap("model")

        await self._audit.append(rec)
        timing.lap("audit")

        c2 = time.perf_counter()
        # Velocity amounts are USD; a currency outside the model's table counts with amount 0.
        await self._features.record(
            card.token, now, req.amount * USD_PER_UNIT.get(req.currency, 0.0)
        )
        self._on_decision(decision.value)
        out = _encoder.encode(
            ScoreResponse(
                transaction_id=req.transaction_id,
                request_id=request_id,
                score=score,
                decision=decision,
                reason_codes=reasons,
                model_version=self._model_version,
                degraded=degraded,
                latency_ms=round((time.perf_counter() - t0) * 1000.0, 3),
                thresholds_version=self._th.version,
                card_token=card.token,
            )
        )
        self._on_cpu(cpu + time.perf_counter() - c2)
        timing.lap("encode")
        return out
