"""Friendlier SpecError texts for SLO files: say what *would* be accepted, at the exact field.

msgspec reports "Invalid enum value '>'" at ``$.objectives[0].op``; a person needs "'<' or '<='
for latency (got '>')". This module rewrites those messages; it never changes *whether* a file is
accepted. Kept apart from :mod:`harness.spec.slo` so the schema module stays short.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from typing import Final

from harness.errors import SpecError

__all__ = ["refine_native"]

_NATIVE_API_VERSION: Final = "slo-harness/v1"
_UPPER_OPS: Final = "'<' or '<='"
_LOWER_OPS: Final = "'>' or '>='"
_OBJECTIVE_FIELD: Final = re.compile(
    r"^\$\.objectives\[(?P<i>\d+)\](?:\.windows\[\d+\])?\.(?P<f>\w+)$"
)
#: ``__post_init__`` checks raise ValueError("`field`: expectation"); msgspec reports them at the
#: object's path, so the field name is moved into the path.
_POST_INIT: Final = re.compile(r"^`(?P<field>\w+)`: (?P<expected>.*)$", re.DOTALL)


def refine_native(
    exc: SpecError, data: object, allowed: Mapping[str, str], lower_metrics: Set[str]
) -> SpecError:
    """Rewrite ``exc`` (from a native SLO file) to name the accepted values where known.

    ``allowed`` maps an objective field name (metric, percentile, sli) to its accepted values;
    ``lower_metrics`` are the metrics whose op is a lower bound ('>' / '>=').
    """
    path, expected = exc.path, exc.expected
    post_init = _POST_INIT.match(expected)
    if post_init:
        return SpecError(exc.file, f"{path}.{post_init['field']}", post_init["expected"])
    if path == "$.apiVersion":
        return SpecError(exc.file, path, f"{_NATIVE_API_VERSION} or openslo/v1 ({expected})")
    if path.endswith("_ms") and expected.startswith("Expected `float`"):
        return SpecError(exc.file, path, f"{expected} (a number of milliseconds, e.g. 50)")
    match = _OBJECTIVE_FIELD.match(path)
    if match and expected.startswith(("Invalid value", "Invalid enum value")):
        got = expected.rsplit(" ", 1)[-1]
        field = match["f"]
        if field == "op":
            metric = _raw_metric(data, int(match["i"]))
            ops = _LOWER_OPS if metric in lower_metrics else _UPPER_OPS
            return SpecError(exc.file, path, f"{ops} for {metric} (got {got})")
        if field in allowed:
            return SpecError(exc.file, path, f"one of {allowed[field]} (got {got})")
    return exc


def _raw_metric(data: object, index: int) -> str:
    try:
        return str(data["objectives"][index]["metric"])  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        return "this metric"
