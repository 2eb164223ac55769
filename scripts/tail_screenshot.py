"""Screenshot of a report's "Where the tail went" (README): the section and its stacked bars.

``python scripts/tail_screenshot.py REPORT_DIR OUT.png``: cuts report.html's own styles, the
stacked-bar figure and the section out into one page (nothing else changes) and photographs it
with headless Chromium (scripts/install-test-deps.sh installs it), as the README's other report
screenshots were taken.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _page(html: str) -> str:
    style = re.search(r"<style>.*?</style>", html, re.S)
    figure = re.search(
        r"<figure>\s*<figcaption>Where the tail went</figcaption>.*?</figure>", html, re.S
    )
    section = re.search(r'<h2 id="tail">.*?(?=<h2 id=")', html, re.S)
    if style is None or figure is None or section is None:
        raise SystemExit("no tail section in this report.html (was it written by this version?)")
    head = '<!doctype html><html><head><meta charset="utf-8">'
    heading, rest = section.group(0).split("</h2>", 1)
    return f"{head}{style.group(0)}</head><body>{heading}</h2>{figure.group(0)}{rest}</body></html>"


def main(argv: list[str]) -> int:
    report, out = Path(argv[0]), Path(argv[1])
    page = _page((report / "report.html").read_text(encoding="utf-8"))
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tail.html"
        path.write_text(page, encoding="utf-8")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={tmp}/profile", f"--screenshot={out.resolve()}",
             "--window-size=1100,1500", path.as_uri()],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
