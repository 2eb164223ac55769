r"""The last line of defence for "a full PAN never appears in a report": refuse to publish one.

``write_reports`` runs :func:`check_no_pans` over the text of every artifact before anything is
moved into the output directory; a hit raises :class:`IntegrityError` and nothing is written.
The error names the artifact, the line and the candidate's length, never the digits.

What counts (``harness.pan_scan.find_pans``): a maximal run of 12-19 digits, or 4-digit groups
joined by one space or dash, that passes the Luhn check.

False-positive rule (explicit, because a refused report costs a run): before scanning, exactly three
kinds of token are blanked out, because they are machine encodings and never free text:

- HDR histogram payloads: ``HISTF`` followed by base64 characters (HdrHistogram V2 compressed
  encoding, the only base64 the reports contain);
- hex digests: a maximal run of exactly 40 or 64 lower-case hex characters (git commits,
  SHA-256 digests), bounded by characters that are not letters or digits;
- SVG path geometry: the value of a ``d="..."`` attribute (commands and coordinates such as
  ``Q 2531 2678 2651 2914``, whose space-separated 4-digit groups look like a spaced card number;
  the plots draw text as glyph paths, so no text is ever inside one).

Cell delimiters are not digit-group separators: in ``.csv`` artifacts every comma, and in ``.md``
artifacts every table cell boundary (`` | ``; a pipe inside a cell is escaped ``\|``), is read as
a line break, so four adjacent 4-digit counts (``1000,1000,1000,1000``) are not one number.

Everything else is scanned as is. The writers keep their own numbers short so they cannot trip
it: times are ISO strings or seconds with three decimals (never epoch nanoseconds), floats are
rounded to six significant digits, and matplotlib's SVG ids are short hashes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from harness.errors import IntegrityError
from harness.pan_scan import find_pans

__all__ = ["check_file_no_pans", "check_no_pans", "mask_machine_tokens"]

_HDR_PAYLOAD: Final = re.compile(r"HISTF[A-Za-z0-9+/]*={0,2}")
_HDR_PAYLOAD_BYTES: Final = re.compile(rb"HISTF[A-Za-z0-9+/]*={0,2}")
_HEX_DIGEST: Final = re.compile(r"(?<![A-Za-z0-9])(?:[0-9a-f]{64}|[0-9a-f]{40})(?![A-Za-z0-9])")
_SVG_PATH_DATA: Final = re.compile(r'(?<=\sd=")[^"]*')


def mask_machine_tokens(text: str) -> str:
    """``text`` with the three machine-token kinds replaced by ``#`` of the same length."""
    for pattern in (_HDR_PAYLOAD, _HEX_DIGEST, _SVG_PATH_DATA):
        text = pattern.sub(lambda m: "#" * len(m.group(0)), text)
    return text


def _split_cells(name: str, text: str) -> str:
    if name.endswith(".csv"):
        return text.replace(",", "\n")
    if name.endswith(".md"):
        return text.replace(" | ", "\n")
    return text


def check_no_pans(artifacts: Mapping[str, str]) -> None:
    """Raise IntegrityError if any artifact's text holds a card-number candidate."""
    for name, text in artifacts.items():
        _check_text(name, text)


def check_file_no_pans(name: str, path: Path, *, chunk_bytes: int = 1 << 22) -> tuple[str, int]:
    """:func:`check_no_pans` over a file read in chunks cut at line ends (for the line-oriented
    artifacts of long runs: latency.hlog, windows.csv, whose tokens never span a line), never
    holding the whole file; returns its (SHA-256, size) from the same read."""
    digest = hashlib.sha256()
    size = lines_before = 0
    rest = b""
    with path.open("rb") as handle:
        while True:
            block = handle.read(chunk_bytes)
            digest.update(block)
            size += len(block)
            data = rest + block
            if block:
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
            if data:
                # The payloads first, in C with a constant mask: most of an hlog's bytes. Any
                # payload masks to 5 or more "#" either way, which no digit-group separator
                # (1-3 characters) can span, so what the scan finds is unchanged.
                short = _HDR_PAYLOAD_BYTES.sub(b"#####", data)
                _check_text(name, short.decode("utf-8", "replace"), lines_before)
                lines_before += data.count(b"\n")
            if not block:
                return digest.hexdigest(), size


def _check_text(name: str, text: str, lines_before: int = 0) -> None:
    masked = _split_cells(name, mask_machine_tokens(text))
    hits = find_pans(masked)
    if hits:
        line = next((n for n, row in enumerate(masked.splitlines(), start=1) if find_pans(row)), 0)
        raise IntegrityError(
            f"{name}: refusing to write the reports: {len(hits)} Luhn-valid card-number "
            f"candidate(s) found (first: {len(hits[0])} digits on line {line + lines_before}); "
            "a full PAN must never appear in a report"
        )
