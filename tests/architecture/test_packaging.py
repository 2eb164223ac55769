"""The two wheels: ``slo-harness`` holds only ``harness``; ``slo-harness-service`` the service.

The wheels are built from copies of the sources (``packaging_support.build_wheel``) and read as
zip files and by their METADATA; then the harness wheel is installed with pip into a clean venv,
offline, pip resolving its dependencies against every distribution this venv has, the service's
stack included (``packaging_support.py`` says how, and why that is fast). In that venv pip chose
none of the service's stack, every harness module imports, ``slo-harness --help`` runs, and
``slo-harness serve`` says how to get the service.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging_support import build_wheel, link_payloads, metadata_wheels, wheel_requirements

ROOT = Path(__file__).resolve().parents[2]
#: The service's stack: none of it may come with ``pip install slo-harness``.
SERVICE_STACK = frozenset(
    {"onnxruntime", "uvicorn", "httptools", "redis", "prometheus-client", "slo-harness-service"}
)
SERVICE_MODULES = ("onnxruntime", "uvicorn", "httptools", "redis", "prometheus_client")

_IMPORT_ALL = """
import importlib, importlib.util, pkgutil, sys
import harness
names = [m.name for m in pkgutil.walk_packages(harness.__path__, "harness.")
         if not m.name.endswith(".__main__")]  # a __main__ runs its program on import
for name in names:
    importlib.import_module(name)
present = [m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None]
dev_only = [m for m in ("pytest", "hypothesis", "importlinter") if m in sys.modules]
print(f"imported {len(names)} modules; present: {present}; loaded dev-only: {dev_only}")
"""


def _metadata(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = Parser().parsestr(archive.read(name).decode())
    return {key: message.get_all(key) or [] for key in set(message.keys())}


def _base(requirements: list[Requirement]) -> set[str]:
    return {
        canonicalize_name(r.name)
        for r in requirements
        if not r.marker or "extra" not in str(r.marker)
    }


@pytest.fixture(scope="module")
def harness_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("harness-wheel")
    return build_wheel(ROOT, out, include=("pyproject.toml", "README.md", "harness"))


@pytest.fixture(scope="module")
def service_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("service-wheel")
    source = ROOT / "reference_service"
    made = ("__pycache__", "build")  # left by an editable install or a build in place
    names = [p.name for p in source.iterdir() if p.name not in made and p.suffix != ".egg-info"]
    return build_wheel(source, out, include=names)


def test_harness_wheel_holds_harness_and_nothing_else(harness_wheel: Path) -> None:
    """Only harness/ and its dist-info; every harness module and data file is in it; no model."""
    names = set(zipfile.ZipFile(harness_wheel).namelist())
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"harness", "slo_harness-0.1.0.dist-info"}
    assert not [n for n in names if n.endswith(".onnx") or "reference_service" in n]
    tree = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "harness").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert tree <= names, sorted(tree - names)


def test_harness_wheel_metadata_leaves_the_service_to_its_extra(harness_wheel: Path) -> None:
    """Base Requires-Dist holds none of the service's stack; [service] is slo-harness-service."""
    requirements = wheel_requirements(harness_wheel)
    assert not _base(requirements) & SERVICE_STACK
    service = [r for r in requirements if r.marker and r.marker.evaluate({"extra": "service"})]
    assert "slo-harness-service" in {canonicalize_name(r.name) for r in service}
    metadata = _metadata(harness_wheel)
    assert "service" in metadata["Provides-Extra"]
    entry_points = zipfile.ZipFile(harness_wheel).read(
        "slo_harness-0.1.0.dist-info/entry_points.txt"
    )
    assert b"slo-harness = harness.cli:main" in entry_points


def test_service_wheel_holds_the_service_its_model_and_stack(service_wheel: Path) -> None:
    """reference_service/ with every sub-package and the model files; its stack as dependencies."""
    names = set(zipfile.ZipFile(service_wheel).namelist())
    assert {n.split("/", 1)[0] for n in names} == {
        "reference_service",
        "slo_harness_service-0.1.0.dist-info",
    }
    source = ROOT / "reference_service"
    tree = {
        "reference_service/" + p.relative_to(source).as_posix()
        for p in source.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)
    } - {"reference_service/pyproject.toml"}
    assert tree <= names, sorted(tree - names)
    assert "reference_service/model/fraud.onnx" in names
    assert not [n for n in names if n.startswith("harness/")]
    base = _base(wheel_requirements(service_wheel))
    assert SERVICE_STACK - {"slo-harness-service"} <= base
    assert "slo-harness" not in base  # the service never needs the harness


def test_clean_venv_installs_the_harness_offline_without_the_service(
    harness_wheel: Path, tmp_path: Path
) -> None:
    """pip installs the wheel in a clean venv offline: no service stack; harness imports, --help."""
    house = tmp_path / "wheels"
    house.mkdir()
    offered = metadata_wheels(house, skip=["slo-harness"])
    assert {p.name.split("-")[0] for p in offered} >= {"onnxruntime", "uvicorn", "redis"}
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # no pip.conf either: its find-links, indexes, constraints
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index"]
    pip += ["--find-links", str(house), "--no-compile", "--no-cache-dir", "--quiet"]
    installed = subprocess.run(
        [*pip, str(harness_wheel)], env=env, capture_output=True, text=True, timeout=300
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    (site,) = (env_dir / "lib").glob("python3.*/site-packages")
    linked = link_payloads(site, skip=["slo-harness"])
    assert "numpy" in linked
    assert not {canonicalize_name(n) for n in linked} & SERVICE_STACK
    clean = {**env, "SLO_HARNESS_STATE_DIR": str(tmp_path / "state")}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        # cwd outside the checkout: only what the venv installed is importable
        return subprocess.run(
            argv, cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120
        )

    done = run(str(python), "-c", _IMPORT_ALL, *SERVICE_MODULES, "reference_service")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "present: []; loaded dev-only: []" in done.stdout, done.stdout  # (locust needs pytest)
    assert str(site) in run(str(python), "-c", "import harness; print(harness.__file__)").stdout
    helped = run(str(env_dir / "bin" / "slo-harness"), "--help")
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "Usage: slo-harness" in helped.stdout
    serve = run(str(env_dir / "bin" / "slo-harness"), "serve")
    assert serve.returncode == 2, serve.stdout + serve.stderr
    assert "slo-harness[service]" in serve.stderr
    assert "Traceback" not in serve.stderr
