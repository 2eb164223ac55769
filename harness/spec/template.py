"""Request-body templates: Jinja2 in its sandbox, with seeded helpers, checked before any load.

Why Jinja2's ``SandboxedEnvironment``: a scenario file is input, and a template must not reach
Python internals (``{{ ''.__class__.__mro__ }}`` is refused by the sandbox); ``StrictUndefined``
makes a misspelt name an error instead of an empty string in every body.

The names a template may use (:data:`HELPERS`): ``uuid()``, ``seq`` (this request's number, from
0), ``now_ms()`` (wall clock, ms since the epoch), ``now_iso()`` (UTC, ISO 8601 with ms),
``randint(a, b)`` (inclusive), ``uniform(a, b)``, ``choice(list)``, and ``row`` (the current
record of the body's ``data`` file, a mapping of column to value). Every random draw comes from
one ``random.Random`` per request entry (seeded by the scenario's seed, the entry and the
process's share), so a run's bodies are reproducible; ``now_*`` are the only unseeded values.

:func:`check_template` is what ``load_scenario`` runs: syntax, unknown names (the set above),
``row`` fields against the data file's columns, and one trial render.
"""

from __future__ import annotations

import random
import time
import uuid as _uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import jinja2
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["HELPERS", "TemplateContext", "check_template", "compile_template"]

#: Every name a template may use.
HELPERS: Final = frozenset(
    {"uuid", "seq", "now_ms", "now_iso", "randint", "uniform", "choice", "row"}
)

_MAPPING_METHODS: Final = frozenset({"get", "items", "keys", "values"})
_ENV: Final = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)


class TemplateContext:
    """The helpers of one request entry's template, drawing from its own seeded RNG."""

    __slots__ = ("_base", "_rng")

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        # Jinja's own globals (range, dict, namespace, ...) and the helpers, bound once: a render
        # then copies one small dict instead of Jinja merging its globals every time.
        self._base: dict[str, Any] = {
            **_ENV.globals,
            "uuid": self.uuid,
            "now_ms": _now_ms,
            "now_iso": _now_iso,
            "randint": self.randint,
            "uniform": self.uniform,
            "choice": self.choice,
        }

    def uuid(self) -> str:
        """A version-4 UUID from the seeded RNG."""
        return str(_uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def randint(self, a: int, b: int) -> int:
        """An integer in [a, b]."""
        return self._rng.randint(int(a), int(b))

    def uniform(self, a: float, b: float) -> float:
        """A float in [a, b]."""
        return self._rng.uniform(float(a), float(b))

    def choice(self, items: Sequence[Any]) -> Any:
        """One element of ``items``."""
        return self._rng.choice(list(items))

    def variables(self, seq: int, row: Mapping[str, Any] | None) -> dict[str, Any]:
        """The template's namespace for request number ``seq``."""
        out = self._base.copy()
        out["seq"] = seq
        if row is not None:
            out["row"] = row
        return out

    def render(self, template: jinja2.Template, seq: int, row: Mapping[str, Any] | None) -> str:
        """``template`` rendered for request number ``seq`` (and its data ``row``).

        Same output as ``template.render(...)``; the context is built from :meth:`variables`
        directly (``shared=True``), which halves the cost of a small template.
        """
        context = template.new_context(self.variables(seq, row), shared=True)
        return "".join(template.root_render_func(context))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def compile_template(source: str) -> jinja2.Template:
    """The sandboxed, strict template (raises ``jinja2.TemplateError``)."""
    return _ENV.from_string(source)


def check_template(source: str, columns: Sequence[str] | None) -> str | None:
    """What is wrong with a template (None: nothing). ``columns``: the data file's fields, or
    None when the body has no data file (then ``row`` is an unknown name)."""
    try:
        tree = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return f"a valid Jinja2 template (line {exc.lineno}: {exc.message})"
    allowed = HELPERS if columns is not None else HELPERS - {"row"}
    unknown = sorted(meta.find_undeclared_variables(tree) - allowed)
    if unknown:
        names = ", ".join(sorted(allowed))
        hint = "" if columns is not None else " (row needs a data file: body.data.file)"
        return f"only the names {names} in the template; unknown: {', '.join(unknown)}{hint}"
    if columns is not None:
        missing = sorted(_row_fields(tree) - set(columns))
        if missing:
            return (
                f"row fields that exist in the data file (columns: {', '.join(columns)}); "
                f"unknown: {', '.join(missing)}"
            )
    row = dict.fromkeys(columns, "0") if columns is not None else None
    ctx = TemplateContext(random.Random(0))
    try:
        ctx.render(compile_template(source), 0, row)
    except jinja2.TemplateError as exc:
        return f"a template that renders (trial render: {exc})"
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        return f"a template that renders (trial render: {exc.__class__.__name__}: {exc})"
    return None


def _row_fields(tree: nodes.Template) -> set[str]:
    """Fields read from ``row`` as ``row.x`` or ``row['x']``."""
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        if not (isinstance(target, nodes.Name) and target.name == "row"):
            continue
        if isinstance(node, nodes.Getattr):
            if node.attr not in _MAPPING_METHODS:
                found.add(node.attr)
        elif isinstance(node, nodes.Getitem):
            arg = node.arg
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                found.add(arg.value)
    return found
