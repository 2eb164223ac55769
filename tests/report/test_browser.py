"""report.html in a real headless Chromium: it renders (screenshot with the plots) and logs nothing.

Console capture: Chromium started with ``--enable-logging=stderr --v=0`` prints every console
message of the page (errors, CSP violations, uncaught exceptions) as an ``INFO:CONSOLE`` line on
stderr. The report has no JavaScript at all, so *any* console line is a defect. A control test
feeds a deliberately broken page through the same detector, so the check cannot pass vacuously
with a Chromium that stopped logging.

Set ``REPORT_SCREENSHOT_DIR`` to also copy the screenshot there (for example reports/screenshots).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.report import ReportPaths

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
_CONSOLE = re.compile(r"CONSOLE|Uncaught|Refused to|Content Security Policy", re.IGNORECASE)
_TIMEOUT_S = 60


def _chromium(page: Path, tmp: Path, *mode: str) -> tuple[str, str]:
    """Run headless Chromium on ``page``; (stdout, stderr). The process group is always killed."""
    argv = [
        shutil.which("chromium") or CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *mode,
        page.resolve().as_uri(),
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: renderer/GPU children die with it
    )
    try:
        out, err = proc.communicate(timeout=_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {err[-2000:]}"
    return out, err


def _console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if _CONSOLE.search(line)]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _has_colour(pixels: np.ndarray, hex_rgb: str, tolerance: float = 0.03) -> int:
    rgb = np.array([int(hex_rgb[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(pixels[..., :3] - rgb) < tolerance).all(axis=-1).sum())


def test_report_renders_with_plots_and_no_console_errors(
    written: ReportPaths, tmp_path: Path
) -> None:
    """Chromium screenshots the report: banner and plot lines are painted; the console is silent."""
    png = tmp_path / "report.png"
    _, err = _chromium(
        written.report_html,
        tmp_path,
        f"--screenshot={png}",
        "--window-size=1280,2400",
        "--hide-scrollbars",
    )
    assert _console_lines(err) == []
    assert _png_size(png) == (1280, 2400)
    assert png.stat().st_size > 50_000, "a near-blank screenshot"
    from matplotlib.image import imread  # here, not at collection (every worker pays that)

    pixels = imread(png)
    assert _has_colour(pixels, "#b42318") > 20_000  # the FAIL banner's red
    assert _has_colour(pixels, "#e76f51") > 200  # the p99 line of the latency plot
    assert _has_colour(pixels, "#2a9d8f") > 200  # the p50 line
    if target := os.environ.get("REPORT_SCREENSHOT_DIR"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(png, Path(target) / "report.png")


def test_dom_has_the_verdict_and_every_plot(written: ReportPaths, tmp_path: Path) -> None:
    """The DOM Chromium built contains the banner, the objectives and four rendered SVGs."""
    dom, err = _chromium(written.report_html, tmp_path, "--dump-dom")
    assert _console_lines(err) == []
    assert '<div class="word">FAIL</div>' in dom
    assert "p99 latency &lt; 50 ms" in dom
    assert dom.count("<svg ") == 4


def test_console_detector_catches_a_broken_page(tmp_path: Path) -> None:
    """Control: a page with a blocked fetch and a script error is caught by the same check."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta http-equiv='Content-Security-Policy' "
        "content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>"
        "<img src='http://127.0.0.1:9/x.png'><script>console.error('boom'); nope();</script>"
        "</body></html>",
        encoding="utf-8",
    )
    _, err = _chromium(page, tmp_path, "--dump-dom")
    lines = _console_lines(err)
    assert any("boom" in line for line in lines), err[-2000:]
    assert any("Uncaught" in line for line in lines), err[-2000:]
