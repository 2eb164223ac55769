"""`slo-harness pci scan`: full PANs in files are reported by file, line and offset, masked."""

from __future__ import annotations

import random
from pathlib import Path

from click.testing import CliRunner

from harness.cli import cli
from harness.pan_scan import luhn_check_digit
from harness.pci_scan import mask_pan, scan_paths


def _pan(rng: random.Random) -> str:
    body = "9999" + "".join(rng.choice("0123456789") for _ in range(11))
    return body + luhn_check_digit(body)


def test_scan_finds_plain_grouped_and_disguised_pans(tmp_path: Path) -> None:
    """Plain, spaced, pipe-, zero-width- and fullwidth-written PANs are found; the output holds
    the last four digits only; exit 1."""
    rng = random.Random(5)
    pans = [_pan(rng) for _ in range(5)]
    fw = pans[4].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    lines = [
        f"plain {pans[0]} end",
        "spaced " + " ".join(pans[1][i : i + 4] for i in range(0, 16, 4)),
        "piped " + "|".join(pans[2][i : i + 4] for i in range(0, 16, 4)),
        "zw " + "\u200b".join(pans[3][i : i + 4] for i in range(0, 16, 4)),
        f"fullwidth {fw}",
    ]
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "log.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    findings, files = scan_paths([tmp_path])
    assert files == 1
    assert [f.line for f in findings] == [1, 2, 3, 4, 5]
    assert [f.masked for f in findings] == [mask_pan(p) for p in pans]
    result = CliRunner().invoke(cli, ["pci", "scan", str(tmp_path)])
    assert result.exit_code == 1
    assert "log.txt:1:7" in result.output
    for p in pans:
        assert p not in result.output
        assert p[:6] + "*" not in result.output


def test_scan_ignores_timestamps_digests_and_uuids(tmp_path: Path) -> None:
    """Epoch milliseconds, dates, SHA-256 digests and UUIDs are not card numbers; exit 0."""
    (tmp_path / "ok.log").write_text(
        "ts=1732900000123 date=2024-06-01 12:30:00\n"
        "sha=4e1243bd22c66e76c2ba9eddc1f91394e57f9f83a1f2e3c4b5a6978812345678\n"
        "id=123e4567-e89b-12d3-a456-426614174000\n"
    )
    result = CliRunner().invoke(cli, ["pci", "scan", str(tmp_path / "ok.log")])
    assert result.exit_code == 0, result.output
    missing = CliRunner().invoke(cli, ["pci", "scan", str(tmp_path / "nope")])
    assert missing.exit_code == 2
