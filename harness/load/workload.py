"""What each request is: an entry of the scenario's request table picked by weight, its body
built by kind (:mod:`harness.load.bodies`), serialised to the exact bytes the client sends.

Requests are built one arrival ahead of their intended time by the scheduler (never on the send
path), so templating, JSON encoding and header formatting cost nothing at the moment that is
measured. Static parts (method, path, headers with their secrets resolved) are formatted once
per entry; a request without a body is built once and reused.

Processes that split one schedule (Locust workers) pass their share ``part=(k, n)``: they share
the cards but draw different transactions, ids and entry choices; arrival ``j`` of process k is
the schedule's arrival ``j * n + k`` (what ``seq`` and a factory's index see).

A ``factory`` entry calls the user's function ``(rng, index) -> (method, path, headers, body)``
at the same point; ``body`` may be bytes, str, a JSON-serialisable object or None.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Final, NamedTuple, Protocol
from urllib.parse import urlsplit

import orjson

from harness.errors import UsageError
from harness.load.bodies import body_builder, content_type_of, entry_rng
from harness.load.outcomes import ResponseJudge
from harness.load.wire import build_request, request_builder
from harness.payload import PayloadGenerator
from harness.spec import RequestSpec, Scenario, import_factory, secret_values
from harness.target import InferInput, V2Model, V2Tensor, request_headers

__all__ = ["Prepared", "RequestSource", "ScenarioWorkload", "host_port"]

_PICKER_SALT: Final = 0x5EED_0F_E1D  # keeps the mix RNG independent of the payload RNG


class Prepared(NamedTuple):
    """One request ready to send.

    ``endpoint`` names its histograms, ``path`` its row in Locust's stats table; ``judge``
    classifies its response (None: the default, 2xx OK and 503 shed). A NamedTuple: one is made
    per arrival, and a frozen dataclass's ``__init__`` is an ``object.__setattr__`` per field.
    """

    endpoint: str
    method: str
    path: str
    data: bytes
    judge: ResponseJudge | None = None


class RequestSource(Protocol):
    """Produces the next request of the run."""

    def next(self) -> Prepared:
        """The next request, serialised."""


def host_port(url: str) -> tuple[str, int, str]:
    """(host, port, Host header) of an http(s) URL; the default port is 80 (443 for https)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    header = parts.netloc.rsplit("@", 1)[-1]
    return parts.hostname, port, header


class _Picker:
    """Draws entry indices by weight from a seeded RNG: one ``random()`` and a bisection (the
    first entry whose cumulative share exceeds it; the last share is exactly 1.0)."""

    __slots__ = ("_cumulative", "_random")

    def __init__(self, weights: Sequence[float], seed: int) -> None:
        total = sum(weights)
        acc = 0.0
        self._cumulative: list[float] = []
        for w in weights:
            acc += w / total
            self._cumulative.append(acc)
        self._cumulative[-1] = 1.0
        self._random = random.Random(seed).random

    def next(self) -> int:
        return bisect_right(self._cumulative, self._random())


class _Entry:
    """One request entry, compiled: static request parts, its body builder and judge."""

    __slots__ = ("build", "judge", "method", "name", "path")

    def __init__(
        self,
        name: str,
        path: str,
        judge: ResponseJudge,
        build: Callable[[int], bytes],
        method: str | None = None,
    ) -> None:
        self.name, self.path, self.judge, self.build = name, path, judge, build
        self.method = method  # None: read from the request line (a factory chooses per request)


class ScenarioWorkload:
    """The scenario's request table as a :class:`RequestSource`."""

    def __init__(
        self,
        scenario: Scenario,
        target_url: str,
        *,
        stream: int = 0,
        part: tuple[int, int] | None = None,
        models: Sequence[V2Model] = (),
        infer: InferInput | None = None,
    ) -> None:
        _, _, self._host_header = host_port(target_url)
        self._base_path = urlsplit(target_url).path.rstrip("/")
        self._part = part or (stream, 1)
        stream = self._part[0]
        spec = scenario.payload
        self._payload = PayloadGenerator(
            spec.seed,
            spec.cards,
            spec.pan_share,
            fraud_share=spec.fraud_share,
            cross_border_share=spec.cross_border_share,
            stream=stream,
        )
        by_path = {m.path: m for m in models}
        if infer is not None:  # the older form: the built-in model's single FP32 input
            tensor = V2Tensor(infer.name, "FP32", (-1, infer.n_features))
            by_path.setdefault(
                "/v2/models/fraud", V2Model("/v2/models/fraud", "fraud", (), (tensor,))
            )
        table = scenario.request_table
        self._picker = _Picker([r.weight for r in table], (spec.seed ^ _PICKER_SALT) + stream)
        self._entries = [self._compile(r, i, scenario, by_path) for i, r in enumerate(table)]
        # One entry: its picks are all 0 (the picker's RNG is its own, so skipping it changes
        # no other draw).
        self._only = self._entries[0] if len(self._entries) == 1 else None
        self._made = 0

    def _compile(
        self, request: RequestSpec, i: int, scenario: Scenario, models: Mapping[str, V2Model]
    ) -> _Entry:
        hidden = secret_values(tuple(request.headers.values()))
        judge = ResponseJudge(request.expect, scenario.shed_status, hidden)
        headers = tuple(request_headers(request.headers).items())
        label = request.http_path.split("?", 1)[0]
        if request.factory is not None:
            rng = entry_rng(scenario.payload.seed, i, self._part[0])
            fn = import_factory(request.factory, request.factory_path)
            assert callable(fn)
            _check_factory_result(request, fn(random.Random(0), 0))  # a bad factory: exit 2 now
            return _Entry(
                request.name,
                f"factory:{request.name}",
                judge,
                self._factory(request, fn, rng, headers),
            )
        v2 = request.v2
        if v2 is not None and v2.inputs is None and v2.metadata_path not in models:
            raise UsageError(
                f"requests[{i}] ({request.name}): the V2 metadata of model "
                f"{v2.model!r} was not read (is the target a V2 server?)"
            )
        builder = body_builder(
            request,
            entry=i,
            seed=scenario.payload.seed,
            part=self._part,
            payload=self._payload,
            models=models,
        )
        method, path = request.http_method, self._base_path + request.http_path
        content_type = content_type_of(request)
        host = self._host_header
        if request.body_kind == "none":
            fixed = build_request(method, host, path, headers=headers)
            return _Entry(request.name, label, judge, lambda _index: fixed, method)
        build = request_builder(
            builder, method, host, path, content_type=content_type, headers=headers
        )
        return _Entry(request.name, label, judge, build, method)

    def _factory(
        self,
        request: RequestSpec,
        fn: object,
        rng: random.Random,
        static: tuple[tuple[str, str], ...],
    ) -> Callable[[int], bytes]:
        assert callable(fn)
        host, base = self._host_header, self._base_path
        content_type = content_type_of(request)

        def build(index: int) -> bytes:
            method, path, headers, body = _check_factory_result(request, fn(rng, index))
            merged = static + tuple(headers.items())
            return build_request(
                method, host, base + path, body, content_type=content_type, headers=merged
            )

        return build

    def next(self) -> Prepared:
        """See :class:`RequestSource`."""
        k, n = self._part
        index = self._made * n + k
        self._made += 1
        entry = self._only or self._entries[self._picker.next()]
        data = entry.build(index)
        method = entry.method or data[: data.index(b" ")].decode("ascii")
        # tuple.__new__: what Prepared(...) does, without its Python-level __new__ frame
        return tuple.__new__(Prepared, (entry.name, method, entry.path, data, entry.judge))


def _check_factory_result(
    request: RequestSpec, result: object
) -> tuple[str, str, Mapping[str, str], bytes | None]:
    """Validate and normalise what a factory returned (UsageError naming the entry otherwise)."""
    where = f"request {request.name!r}: factory {request.factory}"
    if not isinstance(result, tuple | list) or len(result) != 4:
        raise UsageError(f"{where} must return (method, path, headers, body)")
    method, path, headers, body = result
    if not isinstance(method, str) or not method.isalpha() or not method.isupper():
        raise UsageError(f"{where}: method must be an upper-case word like 'POST', got {method!r}")
    if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in " \r\n"):
        raise UsageError(f"{where}: path must start with / and have no spaces, got {path!r}")
    if headers is None:
        headers = {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and "\n" not in v and "\r" not in v
        for k, v in headers.items()
    ):
        raise UsageError(f"{where}: headers must be a dict of str to single-line str")
    if body is None or isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        try:
            data = orjson.dumps(body)
        except TypeError as exc:
            raise UsageError(
                f"{where}: body must be bytes, str, JSON data or None ({exc})"
            ) from None
    return method, path, headers, data
