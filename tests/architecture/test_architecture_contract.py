"""The import contract (.importlinter) holds on the real tree, catches forbidden imports in a copy
of it, and agrees with the layer table of docs/ARCHITECTURE.md."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
_COPIED = ("harness", "reference_service", "tools")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(cwd / ".importlinter")],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _layers() -> list[list[tuple[str, bool]]]:
    """The contract's floors, top first: [(package, optional), ...] per floor."""
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    floors = []
    for line in parser["importlinter:contract:layers"]["layers"].strip().splitlines():
        names = [n.strip() for n in re.split(r"[|:]", line)]
        floors.append([(n.strip("()"), n.startswith("(")) for n in names])
    return floors


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and the contract (sources only), made once per module."""
    base = tmp_path_factory.mktemp("tree")
    for name in _COPIED:
        shutil.copytree(ROOT / name, base / name, ignore=shutil.ignore_patterns("*.onnx", "__py*"))
    shutil.copy(CONFIG, base / ".importlinter")
    return base


@pytest.fixture
def tree(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of the pristine tree for one test to break."""
    shutil.copytree(pristine, tmp_path / "t")
    return tmp_path / "t"


def test_the_real_tree_keeps_every_contract() -> None:
    """lint-imports passes on the repository as it is."""
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_the_untouched_copy_keeps_every_contract(tree: Path) -> None:
    """The copy used below passes too, so each failure below is the one added import."""
    done = _lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("files", "contract"),
    [
        ({"harness/measure/_up.py": "import harness.report\n"}, "harness layers"),
        ({"harness/spec/_up.py": "from harness.slo import evaluate\n"}, "harness layers"),
        ({"+harness/ledger.py": "import harness.measure\n"}, "harness layers"),
        ({"harness/chaos/_peer.py": "import harness.netpol\n"}, "harness layers"),
        ({"harness/netpol/_up.py": "import harness.report\n"}, "harness layers"),
        ({"harness/gameday_job.py": "import harness.cli\n"}, "harness layers"),
        (
            {"+harness/netns/lab.py": "from harness.measure import Recorder\n"},
            "harness layers",
        ),
        ({"reference_service/_peek.py": "import harness.errors\n"}, "reference_service never"),
        ({"harness/report/_svc.py": "import reference_service\n"}, "reference_service never"),
        ({"harness/slo/_green.py": "import gevent\n"}, "only harness.load imports locust"),
        ({"harness/pipeline_x.py": "from locust import User\n"}, "only harness.load imports"),
        ({"harness/measure/_onnx.py": "import onnxruntime\n"}, "only reference_service imports"),
        ({"harness/report/_asgi.py": "import uvicorn\n"}, "uvicorn only in reference_service"),
        ({"harness/chaos/_fast.py": "import uvloop\n"}, "uvloop only in"),
        (
            {"harness/report/_deep.py": "from harness.measure.recorder import Recorder\n"},
            "through its __init__",
        ),
        ({"harness/cli_x.py": "import harness.slo.knee\n"}, "through its __init__"),
    ],
)
def test_a_forbidden_import_breaks_the_contract(
    tree: Path, files: dict[str, str], contract: str
) -> None:
    """One added forbidden import makes lint-imports exit non-zero naming the broken contract.

    The gameday_job case shows an optional layer: absent today, checked once the module exists.
    """
    for rel, text in files.items():
        path = tree / rel.removeprefix("+")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a" if rel.startswith("+") else "w") as f:  # "+": append to a real module
            f.write(text)
    done = _lint(tree)
    assert done.returncode != 0, done.stdout
    broken = [line for line in done.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert broken, done.stdout
    assert contract in done.stdout.split("Broken contracts")[-1], done.stdout


def test_every_top_level_module_has_a_floor() -> None:
    """A new package or module under harness/ must be placed in the layers (and the table)."""
    placed = {name for floor in _layers() for name, _ in floor}
    on_disk = {
        f"harness.{p.stem if p.suffix == '.py' else p.name}"
        for p in (ROOT / "harness").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert not on_disk - placed, f"not in .importlinter layers: {sorted(on_disk - placed)}"
    required = {name for floor in _layers() for name, optional in floor if not optional}
    assert required <= on_disk


def test_the_architecture_table_matches_the_contract() -> None:
    """docs/ARCHITECTURE.md's map lists every package on the floor the contract puts it."""
    rows = re.findall(r"^\| (\d+) \| `(harness\.[a-z_]+)`", ARCHITECTURE.read_text(), re.M)
    documented = {name: int(floor) for floor, name in rows}
    contract = {name: i for i, floor in enumerate(_layers(), 1) for name, _ in floor}
    assert documented == contract
