"""Building (and tearing down) what a worker needs: keys, thresholds, model, audit trail, store.

Split in two phases. :func:`load_keys` and :func:`thresholds_of` are synchronous and run when the
app is built (and once in the launcher as a preflight, so a bad key or thresholds file stops the
service with exit code 2 before any worker starts). :func:`open_resources` is the slow part (load
and warm the model off the event loop, open the audit stream, connect the store) and runs in the
background task that gates readiness.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np

from reference_service.audit import AuditMode, AuditTrail, load_key
from reference_service.config import AUDIT_KEY_ENV, PAN_KEY_ENV, ConfigError, ServiceConfig
from reference_service.debughooks import SlowStore, stalling_fsync
from reference_service.decision import (
    DEFAULT_THRESHOLDS,
    ThresholdError,
    Thresholds,
    load_thresholds,
)
from reference_service.featurestore import (
    BudgetedFeatures,
    FeatureStore,
    InProcessStore,
    LookupOutcome,
    RedisStore,
)
from reference_service.inference import Inference, median_call_s
from reference_service.metrics import Metrics
from reference_service.model.ballast import BallastScorer
from reference_service.model.features import N_FEATURES
from reference_service.model.scorer import FakeScorer, OnnxScorer, Scorer
from reference_service.pan import PanKeyError, PanTokenizer, load_key_material

__all__ = ["Keys", "Resources", "load_keys", "load_scorer", "open_resources", "thresholds_of"]

#: Batch-1 inferences run before readiness turns true (first calls allocate and fill caches).
WARM_CALLS: Final = 500


@dataclass(frozen=True, slots=True)
class Keys:
    """The two secrets of a worker; never logged, never in the config."""

    pan: bytes
    audit: bytes

    def __repr__(self) -> str:  # keep key bytes out of any accidental repr/log
        return "Keys(<redacted>)"


def load_keys(cfg: ServiceConfig) -> Keys:
    """Keys from the configured files or ``$SLO_PAN_KEY`` / ``$SLO_AUDIT_KEY``.

    Raises :class:`ConfigError` naming the source when a key is missing, unreadable or short.
    """
    try:
        pan = load_key_material(cfg.pan_key_file, PAN_KEY_ENV)
        if pan is None:
            raise ConfigError(f"no PAN key: pass --pan-key-file or set ${PAN_KEY_ENV}")
        audit_path = Path(cfg.audit_key_file) if cfg.audit_key_file else None
        audit = load_key(path=audit_path, env_var=AUDIT_KEY_ENV)
    except (PanKeyError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    if pan == audit:
        raise ConfigError("the PAN key and the audit key must differ")
    return Keys(pan=pan, audit=audit)


def thresholds_of(cfg: ServiceConfig) -> Thresholds:
    """The configured thresholds (built-in default without ``--thresholds``)."""
    if cfg.thresholds is None:
        return DEFAULT_THRESHOLDS
    try:
        return load_thresholds(cfg.thresholds)
    except ThresholdError as exc:
        raise ConfigError(str(exc)) from None


def load_scorer(cfg: ServiceConfig) -> Scorer:
    """Load and warm the model (blocking; call off the event loop)."""
    scorer: Scorer
    if cfg.fake_model:
        scorer = FakeScorer()
    else:
        scorer = OnnxScorer.load(Path(cfg.model) if cfg.model else None)
    if cfg.debug_model_cpu_ms > 0:  # test hook: a heavier model (reference_service.model.ballast)
        scorer = BallastScorer.load(scorer, cfg.debug_model_cpu_ms)
    scorer.warm(WARM_CALLS)
    return scorer


def _load_model(cfg: ServiceConfig) -> tuple[Scorer, float]:
    """The warmed scorer and its median batch-1 call (seconds), for the inference policy."""
    scorer = load_scorer(cfg)
    row = np.zeros((1, N_FEATURES), dtype=np.float32)
    return scorer, median_call_s(lambda: scorer.score(row))


@dataclass(slots=True)
class Resources:
    """A worker's open resources, closed in reverse order of dependence."""

    tokenizer: PanTokenizer
    scorer: Scorer
    trail: AuditTrail
    features: BudgetedFeatures
    inference: Inference

    async def close(self) -> None:
        # Velocity writes first (they follow audited decisions), then flush the audit trail.
        await self.features.close()
        await self.trail.close()
        self.inference.close()  # requests have drained: nothing waits for the thread


def _store(cfg: ServiceConfig, metrics: Metrics) -> FeatureStore:
    store: FeatureStore
    if cfg.redis_url:
        store = RedisStore(cfg.redis_url, timeout_s=cfg.feature_budget_ms / 1000.0)
    else:
        mem = InProcessStore(max_bytes=cfg.velocity_max_mb << 20)
        metrics.watch_velocity(mem.stats)
        store = mem
    if cfg.debug_feature_delay_ms > 0:  # test hook: a slow feature store
        delay_s = cfg.debug_feature_delay_ms / 1000.0
        store = SlowStore(store, delay_s, cfg.debug_feature_delay_every)
    return store


def _fsync_hook(cfg: ServiceConfig, metrics: Metrics) -> Callable[[float, int], None]:
    if cfg.debug_fsync_delay_ms > 0:  # test hook: a disk that stalls
        delay_s = cfg.debug_fsync_delay_ms / 1000.0
        return stalling_fsync(metrics.fsync, delay_s, cfg.debug_fsync_delay_every)
    return metrics.fsync


async def open_resources(
    cfg: ServiceConfig,
    keys: Keys,
    metrics: Metrics,
    on_inference_wait: Callable[[float], None] | None = None,
) -> Resources:
    """Load the model, open the audit trail and the feature store (the readiness gate).
    ``on_inference_wait`` hears how long each offloaded model call waited for a thread."""
    scorer, p50_s = await asyncio.to_thread(_load_model, cfg)
    trail = AuditTrail(
        Path(cfg.audit_dir),
        keys.audit,
        mode=AuditMode(cfg.audit_mode.value),
        segment_max_bytes=cfg.audit_segment_bytes,
        max_batch_delay_s=cfg.audit_batch_delay_ms / 1000.0,
        on_fsync=_fsync_hook(cfg, metrics),
    )
    await trail.start()
    metrics.declare_degraded(LookupOutcome.ALL)
    features = BudgetedFeatures(
        _store(cfg, metrics),
        cfg.feature_budget_ms / 1000.0,
        on_degraded=metrics.degraded,
        on_write_dropped=metrics.write_dropped,
    )
    # Last: its threads (if the policy starts any) exist only once nothing else can fail.
    inference = Inference(
        cfg.inference, cfg.inference_threads, p50_s=p50_s, on_wait=on_inference_wait
    )
    return Resources(PanTokenizer(keys.pan), scorer, trail, features, inference)
