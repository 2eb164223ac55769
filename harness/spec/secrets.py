"""Secrets in header values: ``${env:NAME}`` and ``${file:PATH}``, resolved only where sent.

The scenario (and so report.json, provenance and every log line built from it) keeps the
reference; the value exists only inside the generator's prepared request bytes. A file secret is
read whole with one trailing newline stripped (as ``echo token > file`` writes it). A missing
variable or unreadable file is a :class:`SecretError`; its message names the reference, never a
value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from harness.spec.records import read_bounded_text
from harness.spec.requests import SECRET_REF

__all__ = ["MAX_SECRET_BYTES", "SecretError", "resolve_value", "secret_values"]

MAX_SECRET_BYTES: Final = 64 * 1024


class SecretError(ValueError):
    """A secret reference that cannot be resolved; the message says what was expected."""


def resolve_value(value: str, environ: Mapping[str, str] | None = None) -> str:
    """``value`` with every ``${env:NAME}`` / ``${file:PATH}`` replaced by the secret."""
    env = os.environ if environ is None else environ

    def one(match: object) -> str:
        assert hasattr(match, "group")
        kind, name = match.group("kind"), match.group("name")
        if kind == "env":
            secret = env.get(name)
            if secret is None:
                raise SecretError(f"the environment variable {name} to be set (${{env:{name}}})")
        else:
            secret = _read_file(Path(name))
        if any(c in secret for c in "\r\n\0"):
            raise SecretError(f"a single-line secret in ${{{kind}:{name}}}")
        return secret

    return SECRET_REF.sub(one, value)


def _read_file(path: Path) -> str:
    try:
        text = read_bounded_text(path, MAX_SECRET_BYTES, "secret file")
    except ValueError as exc:
        raise SecretError(str(exc)) from None
    return text[:-1] if text.endswith("\n") else text


def secret_values(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The resolved secrets referenced in ``values`` (to scrub from anything echoed back)."""
    found = {resolve_value(m.group(0)) for value in values for m in SECRET_REF.finditer(value)}
    return tuple(sorted(v for v in found if v))
