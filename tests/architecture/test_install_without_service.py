"""``pip install .`` is the harness without the reference service's dependencies.

How this is proven offline: building a clean venv would need every harness dependency from an
index (or a warm pip cache), so instead (1) pyproject's base dependencies are checked to hold none
of the service's packages, (2) a fresh interpreter imports *every* harness module and runs
``slo-harness --help`` with the service's packages and the dev-only packages made unimportable
(an import hook raises ModuleNotFoundError, as a clean venv would), and (3) the import contract
(`.importlinter`, "only reference_service imports the service's dependencies") keeps it so
statically, including imports inside functions that no test reaches.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_ONLY = ("onnxruntime", "redis", "prometheus-client")
BLOCKED = (
    "onnxruntime",
    "redis",
    "prometheus_client",
    "reference_service",
    "sklearn",
    "skl2onnx",
    "onnx",
    "hypothesis",
    "pytest",
    "importlinter",
)

_SCRIPT = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    import harness
    names = [
        m.name
        for m in pkgutil.walk_packages(harness.__path__, "harness.")
        if not m.name.endswith(".__main__")  # runs its program on import
    ]
    for name in names:
        importlib.import_module(name)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print(f"imported {len(names)} modules")
    from harness.cli import main
    try:
        main(sys.argv[2:])
    except SystemExit as exc:
        print(f"exit {exc.code}")
    """
)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _SCRIPT, ",".join(BLOCKED), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_base_dependencies_hold_nothing_of_the_service() -> None:
    """The service's packages are only in the ``service`` extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert not [p for p in SERVICE_ONLY if p in base]
    service = " ".join(project["optional-dependencies"]["service"]).lower()
    assert all(p in service for p in SERVICE_ONLY)


def test_every_harness_module_imports_and_help_runs_without_the_service() -> None:
    """With the service and dev packages unimportable, all of harness imports and --help works."""
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout
    assert "Usage: slo-harness" in done.stdout
    assert "exit 0" in done.stdout


def test_serve_without_the_service_says_how_to_install_it() -> None:
    """``slo-harness serve`` without ``[service]``: exit 2 naming the extra, no traceback."""
    done = _run("serve")
    assert "exit 2" in done.stdout, done.stdout + done.stderr
    assert "slo-harness[service]" in done.stderr
    assert "Traceback" not in done.stderr
