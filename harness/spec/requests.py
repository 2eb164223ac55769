"""What each request of a scenario is: the ``requests:`` table (and ``health:``).

A scenario names its requests as a weighted table; each entry's ``name`` is the endpoint name in
histograms, SLO objectives and reports (the measurement layers never needed more than a name).
An entry says how to build the request (method, path with query, headers, a body kind, or a
Python ``factory``) and how to judge the response (``expect``: accepted statuses, default any 2xx,
and an optional cheap body check, evaluated only when configured). The three calls of the
bundled reference service are three entries of :data:`BUILTIN_REQUESTS`, which the older
``mix:`` form (``{endpoint: score, weight: 90}``) selects, so every shipped scenario keeps its
meaning.

Body kinds (exactly one key of the ``body`` mapping, or a bare ``none`` / ``fraud_transaction``):

- ``fraud_transaction``: the seeded synthetic transaction generator (``payload:`` settings);
- ``v2_infer``: a KServe V2 infer body for ``model`` (and ``version``), its inputs taken from
  the target's V2 metadata (any number, FP32/FP64/INT32/INT64/BOOL/BYTES, ``-1`` dimensions),
  generated from the seed or read from a JSON/JSONL ``inputs`` file;
- ``template``: a Jinja2 template rendered in a sandbox with seeded helpers (``uuid()``, ``seq``,
  ``now_ms()``, ``now_iso()``, ``randint(a, b)``, ``uniform(a, b)``, ``choice(list)``) and
  ``row``, a record of a CSV/JSONL ``data`` file read sequentially or at random;
- ``file``: static bytes;  ``none``: no body.

Header values may name secrets: ``${env:NAME}`` or ``${file:PATH}``; the scenario keeps the
reference, never the value, so the report can say which variables were used and nothing more.

Checks needing files, the environment or imports (templates, data files, secrets, factories) run
in :func:`harness.spec.load_scenario` (``_requests_check``); the Structs here check shape only.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Annotated, Final

from msgspec import Meta, Struct

__all__ = [
    "BUILTIN_REQUESTS",
    "DEFAULT_CONTENT_TYPE",
    "SECRET_REF",
    "BodyCheck",
    "BodyKind",
    "BodySpec",
    "DataFile",
    "DataOrder",
    "Expect",
    "FraudBody",
    "HealthSpec",
    "Method",
    "RequestSpec",
    "V2Generate",
    "V2InferBody",
    "secret_refs",
]

Name = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
ModelName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
#: A request target: absolute path, optional query; no spaces or control characters.
Path = Annotated[str, Meta(pattern=r"^/[\x21-\x7e]*$", max_length=4096)]
Status = Annotated[int, Meta(ge=100, le=599)]
Weight = Annotated[float, Meta(gt=0, le=1e6)]
#: ``${env:NAME}`` or ``${file:PATH}`` inside a header value.
SECRET_REF: Final = re.compile(r"\$\{(?P<kind>env|file):(?P<name>[^}]+)\}")
DEFAULT_CONTENT_TYPE: Final = "application/json"
_HEADER_NAME: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
#: Headers the client writes itself (framing): a scenario must not set them.
_RESERVED: Final = frozenset({"content-length", "transfer-encoding", "connection"})


class _Spec(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Common config of every spec Struct."""


class Method(enum.Enum):
    """HTTP methods a request entry may use."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"


class BodyKind(enum.Enum):
    """The bare-word body kinds (``body: none``); the others take settings."""

    NONE = "none"
    FRAUD_TRANSACTION = "fraud_transaction"


class DataOrder(enum.Enum):
    """How a template walks its data file: in file order (wrapping) or by seeded random picks."""

    SEQUENTIAL = "sequential"
    RANDOM = "random"


class V2Generate(enum.Enum):
    """Where generated V2 input values come from.

    ``random``: seeded values per datatype (floats in [0, 1), small ints, booleans, short
    strings); ``fraud_features``: the reference fraud model's feature row from a synthetic
    transaction (one FP32 input ``[N, F]``; what the built-in ``infer`` entry sends).
    """

    RANDOM = "random"
    FRAUD_FEATURES = "fraud_features"


class DataFile(_Spec, frozen=True):
    """A CSV (header row) or JSONL (one object per line) file of records for ``row``."""

    file: str  # relative to the scenario file
    order: DataOrder = DataOrder.SEQUENTIAL


class FraudBody(_Spec, frozen=True):
    """The seeded synthetic transaction (settings come from the scenario's ``payload:``)."""


class V2InferBody(_Spec, frozen=True):
    """A V2 infer request for a model, its inputs from the target's metadata."""

    model: ModelName
    version: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    #: JSON (one infer body, or a list of ``inputs`` lists) or JSONL file of ``inputs`` lists;
    #: None: values generated from the seed.
    inputs: str | None = None
    generate: V2Generate = V2Generate.RANDOM
    #: What each ``-1`` dimension becomes when inputs are generated.
    dynamic_size: Annotated[int, Meta(ge=1, le=4096)] = 1
    #: Ask only for these outputs (V2 ``outputs``); empty: all.
    outputs: tuple[Annotated[str, Meta(min_length=1, max_length=256)], ...] = ()

    @property
    def metadata_path(self) -> str:
        """``/v2/models/{model}[/versions/{version}]``."""
        base = f"/v2/models/{self.model}"
        return base if self.version is None else f"{base}/versions/{self.version}"


class BodySpec(_Spec, frozen=True):
    """One body kind (exactly one of ``fraud_transaction``, ``v2_infer``, ``template``,
    ``template_file``, ``file``) plus its content type."""

    fraud_transaction: FraudBody | None = None
    v2_infer: V2InferBody | None = None
    template: Annotated[str, Meta(min_length=1, max_length=1_000_000)] | None = None
    template_file: str | None = None  # a template in a file (relative to the scenario file)
    data: DataFile | None = None  # records for a template's ``row``
    file: str | None = None  # static bytes (relative to the scenario file)
    content_type: Annotated[str, Meta(pattern=r"^[\x20-\x7e]{1,256}$")] | None = None

    def __post_init__(self) -> None:
        kinds = [k for k in _KIND_FIELDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            got = ", ".join(kinds) if kinds else "none of them"
            raise ValueError(
                f"expected exactly one body kind of {', '.join(_KIND_FIELDS)} "
                f"(or the bare word none / fraud_transaction); got {got}"
            )
        if self.data is not None and self.kind not in ("template", "template_file"):
            raise ValueError("data: expected only with a template body")

    @property
    def kind(self) -> str:
        """The body kind's key (``template_file`` counts as ``template``'s sibling)."""
        return next(k for k in _KIND_FIELDS if getattr(self, k) is not None)


_KIND_FIELDS: Final = ("fraud_transaction", "v2_infer", "template", "template_file", "file")


class BodyCheck(_Spec, frozen=True):
    """A cheap check of a response body: a JSON key (dotted path, list indices as numbers) that
    must exist, optionally with a value in ``one_of``; or a substring the body must contain."""

    json_key: Annotated[str, Meta(pattern=r"^[^.\s][^\s]*$", max_length=256)] | None = None
    one_of: tuple[str | int | float | bool, ...] | None = None
    contains: Annotated[str, Meta(min_length=1, max_length=1024)] | None = None

    def __post_init__(self) -> None:
        if self.json_key is None and self.contains is None:
            raise ValueError("expected json_key and/or contains")
        if self.one_of is not None and self.json_key is None:
            raise ValueError("one_of: expected only together with json_key")


class Expect(_Spec, frozen=True):
    """What counts as a good response: ``status`` (empty: any 2xx) and an optional body check.
    A status in the scenario's ``shed_status`` that is not listed here counts as shed."""

    status: tuple[Status, ...] = ()
    body: BodyCheck | None = None

    def accepts(self, status: int) -> bool:
        """True when ``status`` is an expected status."""
        return status in self.status if self.status else 200 <= status < 300


class RequestSpec(_Spec, frozen=True):
    """One entry of the ``requests:`` table."""

    name: Name
    weight: Weight = 1.0
    method: Method | None = None  # default: POST with a body, GET without
    path: Path | None = None  # default: "/" (a v2_infer body: the model's infer path)
    headers: dict[str, Annotated[str, Meta(max_length=8192)]] = {}
    body: BodySpec | BodyKind | None = None
    expect: Expect = Expect()
    #: ``package.module:function`` returning (method, path, headers, body) per request.
    factory: Annotated[str, Meta(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")] | None = None
    #: Folder put on the import path for ``factory`` (default: the scenario file's folder).
    factory_path: str | None = None

    def __post_init__(self) -> None:
        for name, value in self.headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(
                    f"headers: expected HTTP header names (token characters), {name!r}"
                )
            if name.lower() in _RESERVED:
                raise ValueError(f"headers: {name} is set by the client itself; remove it")
            if any(c in value for c in "\r\n\0"):
                raise ValueError(f"headers: expected no line breaks in the value of {name}")
        if self.factory is not None and (self.body is not None or self.method is not None):
            raise ValueError("factory: expected without method/body (the factory returns them)")

    @property
    def body_kind(self) -> str:
        """``none``, ``fraud_transaction``, ``v2_infer``, ``template``, ``template_file``,
        ``file`` or ``factory``."""
        if self.factory is not None:
            return "factory"
        if self.body is None:
            return "none"
        if isinstance(self.body, BodyKind):
            return self.body.value
        return self.body.kind

    @property
    def v2(self) -> V2InferBody | None:
        """The V2 infer body settings, if this entry sends one."""
        return self.body.v2_infer if isinstance(self.body, BodySpec) else None

    @property
    def http_method(self) -> str:
        """The method on the wire."""
        if self.method is not None:
            return self.method.value
        return "GET" if self.body_kind == "none" else "POST"

    @property
    def http_path(self) -> str:
        """The request target (before any base path of the target URL)."""
        if self.path is not None:
            return self.path
        v2 = self.v2
        return f"{v2.metadata_path}/infer" if v2 is not None else "/"


class HealthSpec(_Spec, frozen=True):
    """The target's readiness probe: ``GET path`` must answer one of ``status``."""

    path: Path = "/v2/health/ready"
    status: tuple[Status, ...] = (200,)
    headers: dict[str, Annotated[str, Meta(max_length=8192)]] = {}  # e.g. Host, Authorization


def secret_refs(
    requests: tuple[RequestSpec, ...], extra: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """``env:NAME`` / ``file:PATH`` of every secret the headers reference (the requests', and
    ``extra`` such as the health probe's), sorted, once each."""
    values = [v for r in requests for v in r.headers.values()] + list((extra or {}).values())
    found = {f"{m.group('kind')}:{m.group('name')}" for v in values for m in SECRET_REF.finditer(v)}
    return tuple(sorted(found))


#: The reference service's three calls, selected by name from the ``mix:`` form.
BUILTIN_REQUESTS: Final = {
    "score": RequestSpec(name="score", path="/v1/score", body=BodyKind.FRAUD_TRANSACTION),
    "infer": RequestSpec(
        name="infer",
        body=BodySpec(v2_infer=V2InferBody(model="fraud", generate=V2Generate.FRAUD_FEATURES)),
    ),
    "health": RequestSpec(name="health", method=Method.GET, path="/v2/health/ready"),
}
