"""Request bodies by kind, built ahead of their intended send time.

One builder per request entry: a function of the arrival index that returns the body bytes (or
None for no body). The scheduler calls it one arrival ahead, before it sleeps until the
intended time (:mod:`harness.load.engine`), so building never adds to measured latency; its cost
per request is measured by ``benchmarks/bench_generator.py`` (the README's "Request bodies").

Reproducibility: each entry draws from its own ``random.Random`` seeded with the scenario's seed,
the entry's position and the process's share, so two runs of one scenario send the same bodies
(``now_ms()``/``now_iso()`` aside) and two workers never send the same generated ids.
Sequential data rows and V2 input files are walked in this process's share order: the j-th body
of an entry in process k of n uses record (j * n + k), so n workers together walk the file in
order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import jinja2

from harness.load.v2body import V2BodyBuilder
from harness.payload import PayloadGenerator
from harness.spec import (
    BodyKind,
    BodySpec,
    DataOrder,
    RequestSpec,
    TemplateContext,
    compile_template,
    read_records,
)
from harness.target import V2Model

__all__ = ["BodyBuilder", "body_builder", "content_type_of", "entry_rng"]

#: The body of arrival number ``index`` (global across processes), or None for no body.
BodyBuilder = Callable[[int], bytes | None]
_ENTRY_SALT: Final = 0xB0D1E5
_OCTET: Final = "application/octet-stream"


def entry_rng(seed: int, entry: int, stream: int) -> random.Random:
    """The seeded RNG of request entry ``entry`` in process share ``stream``."""
    return random.Random(f"{seed}:{entry}:{stream}:{_ENTRY_SALT}")


def content_type_of(request: RequestSpec) -> str:
    """The Content-Type a body of this entry is sent with."""
    body = request.body
    if isinstance(body, BodySpec):
        if body.content_type is not None:
            return body.content_type
        if body.file is not None and not body.file.endswith(".json"):
            return _OCTET
    return "application/json"


def body_builder(
    request: RequestSpec,
    *,
    entry: int,
    seed: int,
    part: tuple[int, int],
    payload: PayloadGenerator,
    models: Mapping[str, V2Model],
) -> BodyBuilder:
    """The builder of one entry's bodies (see the module docstring)."""
    body = request.body
    if body is None or body is BodyKind.NONE:
        return _no_body
    if body is BodyKind.FRAUD_TRANSACTION or (
        isinstance(body, BodySpec) and body.fraud_transaction is not None
    ):
        return lambda _index: payload.next_score_body()
    assert isinstance(body, BodySpec)
    rng = entry_rng(seed, entry, part[0])
    if body.file is not None:
        data = Path(body.file).read_bytes()
        return lambda _index: data
    if body.v2_infer is not None:
        model = models.get(body.v2_infer.metadata_path)
        return V2BodyBuilder(body.v2_infer, model, rng, part, payload).build
    return _TemplateBody(body, rng, part).build


def _no_body(_index: int) -> None:
    return None


class _TemplateBody:
    """A Jinja2 template body with seeded helpers and data rows."""

    __slots__ = ("_ctx", "_made", "_order", "_part", "_records", "_rng", "_template")

    def __init__(self, body: BodySpec, rng: random.Random, part: tuple[int, int]) -> None:
        source = body.template
        if body.template_file is not None:
            source = Path(body.template_file).read_text(encoding="utf-8")
        assert source is not None
        self._template: jinja2.Template = compile_template(source)
        self._rng = rng
        self._ctx = TemplateContext(rng)
        self._part = part
        self._records: tuple[dict[str, Any], ...] | None = None
        self._order = DataOrder.SEQUENTIAL
        if body.data is not None:
            self._records = read_records(Path(body.data.file))
            self._order = body.data.order
        self._made = 0

    def build(self, index: int) -> bytes:
        """Render the body of arrival ``index``."""
        records = self._records
        row = None
        if records is not None:
            if self._order is DataOrder.RANDOM:
                row = records[self._rng.randrange(len(records))]
            else:
                k, n = self._part
                row = records[(self._made * n + k) % len(records)]
        self._made += 1
        return self._ctx.render(self._template, index, row).encode("utf-8")
