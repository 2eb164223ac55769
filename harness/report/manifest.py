"""``MANIFEST.json``: the SHA-256 of every artifact of a run, and ``verify_report_dir``.

Written last, after every artifact is in place, so a manifest never describes files that are not
there yet. It records each file's digest and size and the digest of the *canonical* report
(``report.json`` re-serialised with sorted keys and 2-space indent), so verification can tell a
content change from a harmless re-formatting of ``report.json``.

What it proves: any later edit, deletion or addition of a file in the run directory is detected
and named; symbolic links are refused, never followed (a link could point the verifier at an
untouched copy while the real file is edited, or outside the directory). What it does not prove on
its own: that nobody rewrote the manifest too; :func:`verify_report_dir` checks the manifest's own
digest against the one the run printed (``expect_sha256``) and an Ed25519 signature
(``public_key``, :mod:`harness.report.signing`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec
import orjson

from harness.errors import ArtifactError, UsageError
from harness.files import sha256_bytes, sha256_file
from harness.report.json_report import canonical_json
from harness.report.reader import REPORT_FILE
from harness.report.signing import SIGNATURE_FILE, signature_problem

__all__ = [
    "MANIFEST_FILE",
    "MANIFEST_VERSION",
    "FileEntry",
    "IntegrityProblem",
    "IntegrityReport",
    "Manifest",
    "ProblemKind",
    "canonical_report_sha256",
    "render_manifest",
    "verify_report_dir",
]

MANIFEST_FILE: Final = "MANIFEST.json"
MANIFEST_VERSION: Final = "1"
_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE


class FileEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One artifact's digest and size in bytes."""

    sha256: str
    bytes: int


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """The manifest document."""

    manifest_version: str
    algorithm: str
    created_by: str
    canonical_report_sha256: str | None
    files: dict[str, FileEntry]


class ProblemKind(enum.Enum):
    """What is wrong with one file of a report directory."""

    EDITED = "edited"  # present, but its digest differs from the manifest's
    MISSING = "missing"  # listed in the manifest, not on disk
    UNEXPECTED = "unexpected"  # on disk, not listed in the manifest
    MANIFEST = "manifest"  # the manifest itself is missing or unreadable
    CANONICAL = "canonical"  # report.json's canonical content differs from the manifest's digest
    SYMLINK = "symlink"  # an entry of the directory is a symbolic link (never followed)
    DIGEST = "digest"  # the manifest's SHA-256 is not the one expected (--expect-sha256)
    SIGNATURE = "signature"  # MANIFEST.sig missing or invalid under the given public key


@dataclass(frozen=True, slots=True)
class IntegrityProblem:
    """One finding of :func:`verify_report_dir`."""

    kind: ProblemKind
    file: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.file}: {self.detail}"


@dataclass(frozen=True, slots=True)
class IntegrityReport:
    """The outcome of verifying a report directory; ``ok`` when nothing was found."""

    directory: Path
    problems: tuple[IntegrityProblem, ...]
    checked: tuple[str, ...]  # files whose digest matched

    @property
    def ok(self) -> bool:
        """True when every listed file is present and unchanged and nothing was added."""
        return not self.problems


def canonical_report_sha256(report_bytes: bytes) -> str | None:
    """Digest of the canonical form of ``report.json`` bytes; None if they are not JSON."""
    try:
        return sha256_bytes(canonical_json(orjson.loads(report_bytes)))
    except orjson.JSONDecodeError:
        return None


def render_manifest(
    files: Mapping[str, bytes],
    *,
    created_by: str,
    streamed: Mapping[str, tuple[str, int]] | None = None,
) -> bytes:
    """The manifest bytes for artifacts ``{file name: content}`` plus ``streamed`` ones
    ``{file name: (sha256, size)}`` (large files digested while they were copied)."""
    report = files.get(REPORT_FILE)
    entries = {
        name: FileEntry(sha256=sha256_bytes(data), bytes=len(data)) for name, data in files.items()
    }
    for name, (digest, size) in (streamed or {}).items():
        entries[name] = FileEntry(sha256=digest, bytes=size)
    manifest = Manifest(
        manifest_version=MANIFEST_VERSION,
        algorithm="sha256",
        created_by=created_by,
        canonical_report_sha256=None if report is None else canonical_report_sha256(report),
        files=dict(sorted(entries.items())),
    )
    return orjson.dumps(msgspec.to_builtins(manifest), option=_OPTIONS)


def verify_report_dir(
    directory: Path, *, expect_sha256: str | None = None, public_key: Path | None = None
) -> IntegrityReport:
    """Check every artifact of ``directory`` against its manifest (ArtifactError if no such dir);
    with ``expect_sha256`` the manifest's own digest, with ``public_key`` its signature."""
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: not a directory")
    links = [
        IntegrityProblem(ProblemKind.SYMLINK, p.name, "a symbolic link; refused, not followed")
        for p in sorted(directory.iterdir())
        if p.is_symlink()
    ]
    if any(p.file == MANIFEST_FILE for p in links):
        return IntegrityReport(directory, tuple(links), ())
    anchors = _anchor_problems(directory, expect_sha256, public_key)
    manifest_or_problem = _load_manifest(directory)
    if isinstance(manifest_or_problem, IntegrityProblem):
        return IntegrityReport(directory, (*links, *anchors, manifest_or_problem), ())
    manifest = manifest_or_problem
    problems: list[IntegrityProblem] = [*links, *anchors]
    checked: list[str] = []
    linked = {p.file for p in links}
    for name, entry in sorted(manifest.files.items()):
        if name in linked:
            continue
        problem = _check_file(directory, name, entry, manifest.canonical_report_sha256)
        if problem is None:
            checked.append(name)
        else:
            problems.append(problem)
    listed = set(manifest.files) | {MANIFEST_FILE, SIGNATURE_FILE}
    problems += [
        IntegrityProblem(
            ProblemKind.UNEXPECTED,
            p.name,
            "a directory, not listed" if p.is_dir() else "not listed in the manifest",
        )
        for p in sorted(directory.iterdir())
        if p.name not in listed and p.name not in linked
    ]
    if REPORT_FILE in checked and manifest.canonical_report_sha256 is not None:
        actual = canonical_report_sha256((directory / REPORT_FILE).read_bytes())
        if actual != manifest.canonical_report_sha256:
            problems.append(
                IntegrityProblem(
                    ProblemKind.CANONICAL,
                    REPORT_FILE,
                    "the canonical report digest in the manifest does not match the file",
                )
            )
    return IntegrityReport(directory, tuple(problems), tuple(checked))


def _anchor_problems(
    directory: Path, expect_sha256: str | None, public_key: Path | None
) -> list[IntegrityProblem]:
    """The manifest checked against anchors kept elsewhere: its digest, its signature."""
    problems: list[IntegrityProblem] = []
    path = directory / MANIFEST_FILE
    if expect_sha256 is not None:
        want = expect_sha256.strip().lower()
        if len(want) != 64 or any(c not in "0123456789abcdef" for c in want):
            raise UsageError(f"--expect-sha256 {expect_sha256[:80]!r}: expected 64 hex digits")
        try:
            actual = sha256_file(path)
        except OSError:
            actual = None
        if actual != want:
            problems.append(
                IntegrityProblem(
                    ProblemKind.DIGEST,
                    MANIFEST_FILE,
                    "SHA-256 differs from the expected digest: the manifest was rewritten",
                )
            )
    if public_key is not None:
        problem = signature_problem(directory, public_key)
        if problem is not None:
            problems.append(IntegrityProblem(ProblemKind.SIGNATURE, SIGNATURE_FILE, problem))
    return problems


def _load_manifest(directory: Path) -> Manifest | IntegrityProblem:
    path = directory / MANIFEST_FILE
    try:
        manifest = msgspec.json.decode(path.read_bytes(), type=Manifest)
    except FileNotFoundError:
        return IntegrityProblem(ProblemKind.MANIFEST, MANIFEST_FILE, "missing: nothing to verify")
    except OSError as exc:
        return IntegrityProblem(ProblemKind.MANIFEST, MANIFEST_FILE, f"unreadable: {exc.strerror}")
    except msgspec.DecodeError as exc:
        return IntegrityProblem(ProblemKind.MANIFEST, MANIFEST_FILE, f"malformed: {exc}")
    if manifest.algorithm != "sha256" or manifest.manifest_version != MANIFEST_VERSION:
        return IntegrityProblem(
            ProblemKind.MANIFEST,
            MANIFEST_FILE,
            f"unsupported (version {manifest.manifest_version!r}, algorithm "
            f"{manifest.algorithm!r}); expected version {MANIFEST_VERSION}, sha256",
        )
    bad = [n for n in manifest.files if not n or "/" in n or "\\" in n or n in (".", "..")]
    if bad:
        return IntegrityProblem(
            ProblemKind.MANIFEST, MANIFEST_FILE, f"malformed: entry {bad[0]!r} is not a file name"
        )
    return manifest


def _check_file(
    directory: Path, name: str, entry: FileEntry, canonical: str | None
) -> IntegrityProblem | None:
    path = directory / name
    try:
        digest = sha256_file(path)
    except FileNotFoundError:
        return IntegrityProblem(ProblemKind.MISSING, name, "listed in the manifest, not present")
    except OSError as exc:
        return IntegrityProblem(ProblemKind.MISSING, name, f"unreadable: {exc.strerror}")
    if digest == entry.sha256:
        return None
    detail = f"SHA-256 differs from the manifest ({entry.bytes} bytes recorded, "
    detail += f"{path.stat().st_size} on disk)"
    if name == REPORT_FILE and canonical is not None:
        same = canonical_report_sha256(path.read_bytes()) == canonical
        detail += "; its content is unchanged, only re-formatted" if same else "; content changed"
    return IntegrityProblem(ProblemKind.EDITED, name, detail)
