"""The view-model types of the HTML pages (report.html, index.html): plain, already-formatted text.

Templates are layout only; every number is formatted once, in Python, into these cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

__all__ = ["Cell", "Plot", "Table"]


@dataclass(frozen=True, slots=True)
class Cell:
    """One table cell: text (escaped on output), an optional CSS class and a relative link."""

    text: str
    css: str = ""
    href: str = ""  # relative to the page; never a URL with a scheme


@dataclass(frozen=True, slots=True)
class Table:
    """A captioned table of text cells."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    caption: str = ""
    numeric_from: int = 99  # columns at or after this index are right-aligned


@dataclass(frozen=True, slots=True)
class Plot:
    """An inline SVG plot (trusted markup produced by :mod:`harness.report.plots`)."""

    title: str
    svg: Markup
    note: str = ""
