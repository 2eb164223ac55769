"""The models and thresholds a replay or dossier uses, from the command line's files.

Defaults mirror an embedded run: the reference service's packaged ``fraud.onnx`` (located on
disk, its code not imported) and the built-in ``default-1`` thresholds. Thresholds files add
versions; a file that repeats a version with other values is refused (two rule sets under one
name would make every replay ambiguous).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.audit.model_file import ReplayModel, default_model_file, open_model
from harness.audit.rules import DEFAULT_THRESHOLDS, Thresholds, load_thresholds
from harness.errors import UsageError

__all__ = ["replay_inputs"]


def replay_inputs(
    model_files: Sequence[Path], thresholds_files: Sequence[Path]
) -> tuple[list[ReplayModel], list[tuple[Thresholds, str]]]:
    """Open the models (default: the packaged one) and thresholds (plus built-in default-1)."""
    files = list(model_files)
    if not files:
        default = default_model_file()
        if default is None:
            raise UsageError("no --model given and the reference service's model is not installed")
        files = [default]
    models = [open_model(p) for p in files]
    thresholds: dict[str, tuple[Thresholds, str]] = {
        DEFAULT_THRESHOLDS.version: (DEFAULT_THRESHOLDS, "built into the service")
    }
    for path in thresholds_files:
        th = load_thresholds(path)
        known = thresholds.get(th.version)
        if known is not None and known[0] != th:
            raise UsageError(
                f"--thresholds {path}: version {th.version!r} is already defined ({known[1]}) "
                "with other values"
            )
        thresholds[th.version] = (th, f"file {path}")
    return models, list(thresholds.values())
