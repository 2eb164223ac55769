"""One error contract (issue 12): every command's error paths exit with their code (2 usage or
input, 1 a check that failed, 3 not measurable) and one line, never a traceback or "internal
error".

A table of cheap failures per command (a missing path, a file where a directory belongs, a
garbage file, a malformed flag), run in-process through click; nothing starts a service or sends
load. A test walks the CLI's command tree, so a new command without a row here fails.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from harness.cli import cli

ROOT = Path(__file__).resolve().parents[2]

# {missing} a path that does not exist, {garbage} a binary file, {list} YAML that is a list,
# {empty_dir} an empty directory, {tmp} the test's directory.
CASES: list[tuple[str, list[str], int]] = [
    ("audit verify", ["{missing}"], 2),
    ("audit verify", ["{empty_dir}", "--expect-head", "junk"], 2),
    ("audit repair", ["{empty_dir}", "--key-file", "{missing}"], 2),
    ("audit replay", ["{empty_dir}", "--key-file", "{garbage}"], 2),
    ("audit show", ["{missing}", "tx-1"], 2),
    ("report verify", ["{missing}"], 2),
    ("report verify", ["{empty_dir}", "--expect-sha256", "zz"], 2),
    ("report verify", ["{empty_dir}"], 1),  # not a run directory: nothing verifies
    ("report index", ["{garbage}"], 2),
    ("report rebuild", ["{empty_dir}"], 2),
    ("report sign", ["{missing}", "--key", "{missing}"], 2),
    ("report keygen", ["{tmp}/no/such/dir/key"], 2),
    ("netpol matrix", ["{missing}"], 2),
    ("netpol check", ["{missing}", "--expect", "{missing}"], 2),
    ("netpol lint", ["{garbage}"], 2),
    ("netpol diff", ["{list}", "{list}"], 2),
    ("netpol probe", ["{list}"], 2),
    ("pci scan", ["{missing}"], 2),
    ("gameday", ["{garbage}", "--dry-run"], 2),
    ("compare", ["{missing}", "{missing}"], 2),
    ("compare", ["{empty_dir}", "{empty_dir}"], 1),  # the baseline does not verify
    ("run", ["{list}"], 2),
    ("run", [str(ROOT / "scenarios" / "spike.yaml"), "--duration", "1"], 2),  # the bug
    ("serve", ["--workers", "x"], 2),
    ("worker", ["--master-port", "notaport"], 2),
    ("cleanup", ["--no-such-flag"], 2),
    ("chaos cleanup", ["--no-such-flag"], 2),
]


def _leaf_commands(group: click.Group, prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += _leaf_commands(command, f"{prefix}{name} ")
        else:
            out.append(prefix + name)
    return out


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SLO_HARNESS_STATE_DIR", str(tmp_path / "state"))
    for name in ("SLO_AUDIT_KEY", "SLO_AUDIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "garbage").write_bytes(b"\x00\xff\xfe not { a : [ file")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "empty").mkdir()
    return {
        "missing": str(tmp_path / "nope"),
        "garbage": str(tmp_path / "garbage"),
        "list": str(tmp_path / "list.yaml"),
        "empty_dir": str(tmp_path / "empty"),
        "tmp": str(tmp_path),
    }


@pytest.mark.parametrize(
    ("command", "args", "code"), CASES, ids=[" ".join([c[0], *c[1]]) for c in CASES]
)
def test_error_path_exits_with_its_code_and_one_line(
    inputs: dict[str, str], command: str, args: list[str], code: int
) -> None:
    """The command fails with its exit code, says why on stderr/stdout, and shows no traceback."""
    argv = [*command.split(), *(a.format(**inputs) for a in args)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == code, (argv, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(("slo-harness: error:", "Error:")) or code == 1, result.output


def test_every_command_has_an_error_case() -> None:
    """Each command of the CLI has at least one row in the table (a new one needs its own)."""
    covered = {command for command, _, _ in CASES}
    assert set(_leaf_commands(cli)) - covered == set()


def test_every_command_refuses_an_unknown_flag() -> None:
    """An unknown flag is click's usage error (exit 2), for every command."""
    for command in _leaf_commands(cli):
        if command == "serve":  # extra flags go to the service
            continue
        result = CliRunner().invoke(cli, [*command.split(), "--no-such-flag"])
        assert result.exit_code == 2, (command, result.output)
        assert "No such option" in result.output, (command, result.output)
