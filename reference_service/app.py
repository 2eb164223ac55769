"""The ASGI application: routing, admission, error mapping and lifecycle.

Routing is a dict lookup on the exact path (every route is static) rather than a framework router:
see :mod:`reference_service.asgi` for the per-request budget that motivates it.

Lifecycle: the lifespan ``startup`` returns at once and loading continues in a background task, so
the server answers ``/v2/health/live`` (200) and ``/v2/health/ready`` (503) while the model loads
and warms and the audit trail opens; readiness turns true only when all three are done. If start-up
fails, liveness turns 503 too so an orchestrator restarts the process. On SIGTERM uvicorn stops
accepting, lets in-flight requests finish (their audit records included), then runs the lifespan
``shutdown``: pending velocity writes are given a moment, and the audit trail is flushed and closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, NamedTuple

import msgspec

from reference_service import __version__, timing
from reference_service.admission import Admission
from reference_service.asgi import (
    BODY_RECEIVED,
    JSON,
    Receive,
    Reply,
    Scope,
    Send,
    is_json,
    read_body,
    send_reply,
)
from reference_service.audit import AuditError
from reference_service.config import ServiceConfig, config_from_env
from reference_service.logs import configure_logging, log_event
from reference_service.metrics import FLUSH_INTERVAL_S, Metrics
from reference_service.openapi import openapi_document
from reference_service.orphans import die_with_launcher, remove_worker_files
from reference_service.pipeline import ScorePipeline
from reference_service.resources import Keys, Resources, load_keys, open_resources, thresholds_of
from reference_service.schema import MAX_BODY_BYTES, ErrorBody, RequestError
from reference_service.v2 import infer, model_metadata, server_metadata

__all__ = ["ServiceApp", "create_app", "create_app_from_env"]

_enc: Final = msgspec.json.Encoder()
_RETRY: Final = ((b"retry-after", b"1"),)
_CLOSE: Final = ((b"connection", b"close"),)
_OVERLOADED: Final = _enc.encode(ErrorBody("overloaded, retry later", None))

Handler = Callable[[bytes, str, float], Awaitable[Reply]]


class Route(NamedTuple):
    name: str
    method: str
    handler: Handler
    #: Admitted routes do model work: they count as in flight and can be shed.
    admitted: bool


Headers = tuple[tuple[bytes, bytes], ...]


def _json(status: int, doc: Any) -> Reply:
    return Reply(status, _enc.encode(doc), JSON)


def _error(status: int, message: str, field: str | None = None, headers: Headers = ()) -> Reply:
    return Reply(status, _enc.encode(ErrorBody(message, field)), JSON, headers)


class ServiceApp:
    """One worker's ASGI app. Build with :func:`create_app`."""

    def __init__(self, cfg: ServiceConfig, keys: Keys) -> None:
        self.cfg = cfg
        self.keys = keys
        self.thresholds = thresholds_of(cfg)
        self.metrics = Metrics()
        self.admission = Admission(cfg.latency_budget_ms / 1000.0, cfg.max_in_flight)
        self.ready = False
        self.failed: str | None = None
        self.res: Resources | None = None
        self.pipeline: ScorePipeline | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # A letter (not a dash) joins the parts: letters end a digit run, so no request id can
        # look like a card number to the identifier rule (8 + 12 decimal-looking hex digits could).
        self._rid_prefix = os.urandom(4).hex() + "r"
        self._rid = 0
        self._delay_s = cfg.debug_handler_delay_ms / 1000.0
        self._body_timeout_s = cfg.body_timeout_s
        self._openapi = _enc.encode(openapi_document(__version__))
        self.routes: dict[str, Route] = {
            r.name: r
            for r in (
                Route("/v1/score", "POST", self._score, True),
                Route("/v2/models/fraud/infer", "POST", self._infer, True),
                Route("/v2/health/live", "GET", self._live, False),
                Route("/v2/health/ready", "GET", self._ready, False),
                Route("/v2", "GET", self._server_meta, False),
                Route("/v2/models/fraud", "GET", self._model_meta, False),
                Route("/v2/models/fraud/ready", "GET", self._model_ready, False),
                Route("/metrics", "GET", self._metrics, False),
                Route("/openapi.json", "GET", self._openapi_doc, False),
            )
        }

    # ---- ASGI entry -------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        t0 = time.perf_counter()
        route = self.routes.get(scope["path"])
        self._rid += 1
        rid = f"{self._rid_prefix}{self._rid:x}"
        if route is None:
            reply = _error(404, "no such route")
            name = "unmatched"
        else:
            name = route.name
            if scope["method"] != route.method:
                reply = _error(
                    405, f"use {route.method}", None, ((b"allow", route.method.encode()),)
                )
            elif route.admitted:
                timer = timing.start(t0)
                reply = await self._admitted(route, scope, receive, rid, t0)
                timer.lap("encode")
                reply = Reply(
                    reply.status,
                    reply.body,
                    reply.content_type,
                    (*reply.headers, (timing.HEADER, timer.header_value())),
                )
            else:
                reply = await route.handler(b"", rid, t0)
        await send_reply(send, reply, rid.encode("ascii"))
        elapsed = time.perf_counter() - t0
        self.metrics.request(name, reply.status, elapsed)
        if self.cfg.access_log:
            log_event(
                "request", route=name, status=reply.status, ms=round(elapsed * 1e3, 3), id=rid
            )

    def refuse_at_once(self, scope: Scope, received_s: float) -> bytes | None:
        """The JSON body of a 503 for a request admission refuses right now, decided from its
        request line and headers alone; None: run the request as usual. ``received_s``
        (``time.monotonic()``) is when the read that completed the headers began: the latency
        histogram gets the time from there to this decision (the write follows at once). The
        protocol (:class:`~reference_service.connections.GuardedProtocol`) calls it before it
        creates the request's task, so a refusal is written in the same event-loop callback that
        parsed the headers, ahead of every queued handler (measured: README, "Overload")."""
        route = self.routes.get(scope["path"])
        if route is None or not route.admitted or scope["method"] != route.method:
            return None
        if not self.ready or not is_json(scope) or not self.admission.full():
            return None
        self.metrics.shed("overload")
        self.metrics.request(route.name, 503, time.monotonic() - received_s)
        return _OVERLOADED

    async def _admitted(
        self, route: Route, scope: Scope, receive: Receive, rid: str, t0: float
    ) -> Reply:
        if not self.ready:
            self.metrics.shed("not_ready")
            return _error(503, "service not ready", None, _RETRY)
        if not is_json(scope):
            return _error(415, "Content-Type must be application/json", None)
        if self.admission.full():  # already saturated: refuse without waiting for the body
            self.metrics.shed("overload")
            return _error(503, "overloaded, retry later", None, _RETRY)
        # The body is read BEFORE admission and under a deadline: a client that trickles its body
        # holds a connection (bounded by the connection cap), never an admission slot.
        try:
            if scope.get(BODY_RECEIVED):  # all buffered: receive() cannot wait, no deadline needed
                body = await read_body(scope, receive, MAX_BODY_BYTES)
            else:
                async with asyncio.timeout(self._body_timeout_s):
                    body = await read_body(scope, receive, MAX_BODY_BYTES)
        except TimeoutError:
            return _error(408, "request body not received in time", None, _CLOSE)
        except RequestError as exc:
            return _error(exc.status, exc.message, exc.field, _CLOSE if exc.status == 413 else ())
        timing.lap("decode")  # the body read; the JSON decode is charged to it in the pipeline
        if not self.admission.try_enter():
            self.metrics.shed("overload")
            return _error(503, "overloaded, retry later", None, _RETRY)
        self.metrics.entered()
        timing.lap("queue")
        try:
            return await route.handler(body, rid, t0)
        except RequestError as exc:
            return _error(exc.status, exc.message, exc.field)
        except AuditError:
            log_event("audit_append_failed", logging.ERROR, request_id=rid)
            self.metrics.shed("audit_unavailable")
            return _error(503, "audit trail unavailable; decision not sent", None, _RETRY)
        except Exception as exc:  # a bug, not bad input: answer 500 without details
            log_event(
                "handler_error", logging.ERROR, route=route.name, error_type=type(exc).__name__
            )
            return _error(500, "internal error")
        finally:
            self.admission.leave(wall_s=time.perf_counter() - t0)
            self.metrics.left()

    # ---- handlers ---------------------------------------------------------------------------

    async def _score(self, body: bytes, rid: str, t0: float) -> Reply:
        if self._delay_s:
            await asyncio.sleep(self._delay_s)  # test hook (--debug-handler-delay-ms)
            timing.lap("debug")
        assert self.pipeline is not None  # admitted routes run only when ready
        return Reply(200, await self.pipeline.handle(body, rid, t0))

    async def _infer(self, body: bytes, rid: str, t0: float) -> Reply:
        assert self.res is not None
        c0 = time.perf_counter()
        run = self.res.inference  # the whole call goes to the thread: it holds no shared state
        if run.offloaded:
            out = await run.offload(infer, body, self.res.scorer)
        else:
            out = run.inline(infer, body, self.res.scorer)
        timing.lap("model")  # decode, inference and encode of a V2 request are one call
        self.admission.observe(time.perf_counter() - c0)
        return Reply(200, out)

    async def _live(self, body: bytes, rid: str, t0: float) -> Reply:
        if self.failed is not None:
            return _json(503, {"live": False, "error": "start-up failed"})
        return _json(200, {"live": True})

    async def _ready(self, body: bytes, rid: str, t0: float) -> Reply:
        return _json(200 if self.ready else 503, {"ready": self.ready})

    async def _server_meta(self, body: bytes, rid: str, t0: float) -> Reply:
        return _json(200, server_metadata(__version__, self.cfg.audit_mode.value))

    async def _model_meta(self, body: bytes, rid: str, t0: float) -> Reply:
        if self.res is None:
            return _error(503, "model not loaded", None, _RETRY)
        return _json(200, model_metadata(self.res.scorer.info))

    async def _model_ready(self, body: bytes, rid: str, t0: float) -> Reply:
        return _json(200 if self.ready else 503, {"name": "fraud", "ready": self.ready})

    async def _metrics(self, body: bytes, rid: str, t0: float) -> Reply:
        self._refresh_gauges()
        text, ctype = self.metrics.render()
        return Reply(200, text, ctype.encode("ascii"))

    async def _openapi_doc(self, body: bytes, rid: str, t0: float) -> Reply:
        return Reply(200, self._openapi)

    # ---- lifecycle --------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self._tasks.append(asyncio.create_task(self._start()))
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self) -> None:
        try:
            if self.cfg.debug_start_delay_s > 0:
                await asyncio.sleep(self.cfg.debug_start_delay_s)  # test hook
            self.res = await open_resources(
                self.cfg, self.keys, self.metrics, on_inference_wait=self.admission.waited
            )
            # Admitted requests pass through the inference thread(s) too: their busy time bounds
            # the completion rate admission may assume, as the loop thread's CPU time does.
            self.admission.bound_by(self.res.inference.busy_s)
            info = self.res.scorer.info
            self.metrics.model_info(info.name, info.version, info.sha256)
            self.pipeline = ScorePipeline(
                tokenizer=self.res.tokenizer,
                features=self.res.features,
                scorer=self.res.scorer,
                thresholds=self.thresholds,
                audit=self.res.trail,
                on_decision=self.metrics.decision,
                on_cpu=self.admission.observe,
                inference=self.res.inference,
            )
        except Exception as exc:
            self.failed = type(exc).__name__
            log_event("startup_failed", logging.ERROR, error=str(exc), error_type=self.failed)
            return
        # Everything allocated so far (model, tables, imports) lives for the whole process: move
        # it out of the collector's generations so a full collection under load does not walk
        # it again (a gen-2 pass over start-up objects is a multi-millisecond pause).
        gc.collect()
        gc.freeze()
        self.ready = True
        self._tasks.append(asyncio.create_task(self._gauge_loop()))
        run = self.res.inference
        log_event(
            "ready",
            pid=os.getpid(),
            model_version=info.version,
            sha256=info.sha256,
            inference=run.policy.value,
            inference_offloaded=run.offloaded,
            model_call_p50_ms=round(run.p50_s * 1e3, 3),
        )

    def _refresh_gauges(self) -> None:
        """Flush the request tallies and set the gauges (before a scrape and every
        FLUSH_INTERVAL_S)."""
        self.metrics.flush()
        self.metrics.in_flight.set(self.admission.in_flight)
        self.metrics.admission_limit.set(self.admission.limit)
        if self.res is not None:
            self.metrics.audit_queue.set(self.res.trail.queue_depth())

    async def _gauge_loop(self) -> None:
        while True:
            self._refresh_gauges()
            await asyncio.sleep(FLUSH_INTERVAL_S)

    async def shutdown(self) -> None:
        """Stop taking work, flush the audit trail and release resources (idempotent)."""
        self.ready = False
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.res is not None:
            res, self.res = self.res, None
            await res.close()
        self.metrics.worker_exit()
        remove_worker_files()
        log_event("shutdown_complete", pid=os.getpid())


def create_app(cfg: ServiceConfig, keys: Keys | None = None) -> ServiceApp:
    """An app for ``cfg``; keys default to the key files / environment named by ``cfg``."""
    return ServiceApp(cfg, keys if keys is not None else load_keys(cfg))


def create_app_from_env() -> ServiceApp:
    """Factory uvicorn calls in each worker process (config from ``$SLO_SERVICE_CONFIG``)."""
    die_with_launcher()
    cfg = config_from_env()
    configure_logging(cfg.log_level.value)
    return create_app(cfg)
