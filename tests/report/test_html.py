"""report.html: one self-contained page with every section, all text escaped."""

from __future__ import annotations

from dataclasses import replace
from html.parser import HTMLParser

import pytest
from report_support import verdict

from harness.measure.result import RunResult, ScenarioRef
from harness.report import ReportInputs, ReportPaths
from harness.report.html_report import render_report_html
from harness.report.provenance import Provenance
from harness.slo.verdict import ObjectiveStatus, Verdict, VerdictStatus

_URL_ATTRS = {"src", "href", "xlink:href", "action", "srcset", "poster", "data"}


class _Collector(HTMLParser):
    """Every tag, every URL-bearing attribute and the text of <style> blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self.ids: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in _URL_ATTRS and value is not None:
                self.urls.append((tag, name, value))
            if name == "style" and value:
                self.styles.append(value)
            if name == "id" and value:
                self.ids.append(value)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


@pytest.fixture(scope="module")
def page(written: ReportPaths) -> str:
    """The written report.html of the failed run with a comparison."""
    return written.report_html.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def parsed(page: str) -> _Collector:
    """The page, parsed."""
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector


def test_verdict_banner_and_every_objective(page: str, failed: Verdict) -> None:
    """The banner shows the verdict and each objective appears with its status."""
    assert '<section class="banner fail" id="verdict">' in page
    assert '<div class="word">FAIL</div>' in page
    for objective in failed.objectives:
        assert objective.name.replace("<", "&lt;") in page
    assert 'class="badge fail">FAIL</td>' in page


def test_every_section_is_present(page: str) -> None:
    """Plots, generator health, comparison, provenance and the integrity note are all there."""
    for anchor in (
        "objectives", "phases", "latency", "plots", "faults", "generator", "comparison",
        "provenance", "integrity",
    ):  # fmt: skip
        assert f'id="{anchor}"' in page
    assert page.count("<svg ") == 4
    assert "slo-harness report verify" in page
    assert "9f2c4e1ab0d7c3e8f5a6b1d2c3e4f5a6b7c8d9e0" in page  # provenance: the git commit


def test_no_external_reference(parsed: _Collector, page: str) -> None:
    """No script, no stylesheet link, no URL that a browser would fetch."""
    assert "script" not in parsed.tags
    assert "iframe" not in parsed.tags
    links = [u for u in parsed.urls if u[0] == "link"]
    assert links == [("link", "href", "data:,")]  # the favicon, inlined as empty
    for tag, attr, value in parsed.urls:
        if tag == "a":  # sibling artifacts, opened by a click, never fetched
            assert "://" not in value, value
            assert not value.startswith("//"), value
        else:
            assert value.startswith(("#", "data:")), (tag, attr, value)
    for css in parsed.styles:
        assert "url(" not in css.replace("url(#", "")
        assert "@import" not in css
    assert "default-src 'none'" in page


def test_ids_are_unique(parsed: _Collector) -> None:
    """Several inline SVGs share the page without colliding ids."""
    assert len(parsed.ids) == len(set(parsed.ids))


def test_text_is_escaped(run: RunResult, prov: Provenance) -> None:
    """Markup in a scenario name or a reason is shown as text, never interpreted."""
    hostile = "<script>alert(1)</script>"
    odd = replace(run, scenario=ScenarioRef(hostile, "x.yaml", "ab" * 32))
    base = verdict(VerdictStatus.FAIL)
    bad = replace(base, reasons=(f"reason {hostile}",))
    html = render_report_html(ReportInputs(odd, bad, prov)).decode()
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_invalid_run_shows_insufficient(run: RunResult, prov: Provenance) -> None:
    """An invalid run's banner is INVALID and its insufficient objective is labelled so."""
    invalid = verdict(VerdictStatus.INVALID)
    html = render_report_html(ReportInputs(run, invalid, prov)).decode()
    assert '<section class="banner invalid"' in html
    assert 'class="badge insufficient">INSUFFICIENT</td>' in html
    assert any(o.status is ObjectiveStatus.INSUFFICIENT for o in invalid.objectives)
    assert 'id="comparison"' not in html  # no baseline given
