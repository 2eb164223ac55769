"""A clean venv, offline: build our wheel, give pip the venv's distributions, link their code.

Why: "``pip install .`` in a clean venv gives the harness without onnxruntime" is a claim about
pip's resolution of the wheel's declared dependencies and about what then imports, so the proof
installs the built wheel with pip into a venv that sees nothing of this one (no
``--system-site-packages``). CI reaches the package registries only while ``make install`` runs,
so nothing may be downloaded; and copying the ~450 MB of numpy/scipy/pandas/matplotlib into a
second venv costs over a minute on a 2-core machine (measured: 30 s to repack, 50 s for pip to
unpack), too slow for the test suite. So:

1. :func:`metadata_wheels`: every distribution this venv has (the versions ``constraints.txt``
   pinned, the service's stack included) becomes a wheel holding only its ``.dist-info``
   metadata. pip resolves against exactly these (``--no-index --find-links``): if anything in the
   harness's ``Requires-Dist`` closure named onnxruntime, uvicorn or the service, pip would
   install it and the test would see it.
2. pip installs the harness wheel for real (its files, its ``slo-harness`` console script) and
   the chosen dependencies' metadata.
3. :func:`link_payloads`: for each distribution pip installed, and only those, its files are
   symlinked from this venv (as its RECORD lists them; bytecode and files outside site-packages
   left out), so the clean venv can import exactly what pip chose, at identical versions.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

__all__ = ["build_wheel", "link_payloads", "metadata_wheels", "wheel_requirements"]

_SKIPPED_DIST_INFO = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def build_wheel(project: Path, out_dir: Path, *, include: Iterable[str]) -> Path:
    """Build ``project``'s wheel from a copy of ``include`` (paths under it) in ``out_dir``.

    A copy, so the build's ``build/`` and ``*.egg-info`` never land in the working tree (and two
    test processes never share them). The venv's setuptools builds it through its PEP 517 hook,
    as ``pip wheel --no-build-isolation --no-deps`` would, without pip's start-up.
    """
    src = out_dir / "src"
    src.mkdir()
    for name in include:
        source = project / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
            shutil.copytree(source, src / name, ignore=ignore)
        else:
            shutil.copy2(source, src / name)
    wheels = out_dir / "wheels"
    wheels.mkdir()
    build = "import sys, setuptools.build_meta as b; b.build_wheel(sys.argv[1])"
    subprocess.run(
        [sys.executable, "-c", build, str(wheels)],
        cwd=src,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("*.whl")
    return wheel


def wheel_requirements(wheel: Path) -> list[Requirement]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = archive.read(name).decode()
    head = metadata.split("\n\n", 1)[0].splitlines()
    return [
        Requirement(line.split(":", 1)[1]) for line in head if line.startswith("Requires-Dist:")
    ]


def metadata_wheels(out_dir: Path, *, skip: Iterable[str]) -> list[Path]:
    """One metadata-only wheel per distribution on this interpreter's path (but ``skip``)."""
    skipped = {canonicalize_name(n) for n in skip}
    done: dict[str, Path] = {}
    for dist in md.distributions():
        key = canonicalize_name(dist.metadata["Name"])
        if key not in skipped and key not in done and _metadata_files(dist):
            done[key] = _metadata_wheel(dist, out_dir)
    return list(done.values())


def _metadata_files(dist: md.Distribution) -> list[md.PackagePath]:
    """The ``.dist-info`` files worth carrying; none for an ``.egg-info`` (no wheel to make)."""
    files = [
        f
        for f in dist.files or []
        if f.parts[0].endswith(".dist-info") and f.name not in _SKIPPED_DIST_INFO
    ]
    return files if any(f.name == "METADATA" for f in files) else []


def _metadata_wheel(dist: md.Distribution, out_dir: Path) -> Path:
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    info = f"{name}-{dist.version}.dist-info"
    wheel = out_dir / f"{name}-{dist.version}-{_tag(dist)}.whl"
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for file in _metadata_files(dist):
            data = Path(str(file.locate())).read_bytes()
            arcname = "/".join((info, *file.parts[1:]))
            archive.writestr(arcname, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{arcname},sha256={digest.decode()},{len(data)}")
        record.append(f"{info}/RECORD,,")
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def link_payloads(site_packages: Path, *, skip: Iterable[str]) -> list[str]:
    """Symlink the files of every distribution installed in ``site_packages`` from this venv.

    Returns the names linked. A top-level directory that only one distribution here owns is one
    link; shared ones (namespace packages such as ``zope``) are linked file by file, so another
    distribution's part of them stays out. Bytecode and files outside site-packages are left out.
    """
    skipped = {canonicalize_name(n) for n in skip}
    owners: dict[str, set[str]] = {}
    for dist in md.distributions():
        for top in _tops(dist):
            owners.setdefault(top, set()).add(canonicalize_name(dist.metadata["Name"]))
    linked: list[str] = []
    for installed in md.distributions(path=[str(site_packages)]):
        name = installed.metadata["Name"]
        if canonicalize_name(name) in skipped:
            continue
        source = md.distribution(name)
        for file in _payload(source):
            top = file.parts[0]
            whole = len(owners[top]) == 1 and len(file.parts) > 1
            rel = Path(top) if whole else Path(*file.parts)
            target = site_packages / rel
            if whole and target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(source.locate_file(rel))
        linked.append(name)
    return sorted(linked)


def _payload(dist: md.Distribution) -> list[md.PackagePath]:
    return [
        f
        for f in dist.files or []
        if f.parts[0] != ".." and not f.parts[0].endswith(".dist-info") and f.suffix != ".pyc"
    ]


def _tops(dist: md.Distribution) -> set[str]:
    return {f.parts[0] for f in _payload(dist)}


def _tag(dist: md.Distribution) -> str:
    text = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]
    if not tags:
        return "py3-none-any"
    python, abi, platform = (sorted({t.split("-")[i] for t in tags}) for i in range(3))
    return "-".join(".".join(part) for part in (python, abi, platform))
