"""Ed25519 signatures of ``MANIFEST.json``: evidence that cannot be rewritten consistently.

The manifest pins every artifact by SHA-256, but it is an unkeyed list: whoever can edit
``junit.xml`` can edit its manifest line too. Two anchors close that gap:

- the manifest's own SHA-256, printed by ``run`` (``manifest sha256: ...``): keep it elsewhere
  and check with ``report verify DIR --expect-sha256 HEX``;
- a signature: ``report sign DIR --key PRIVATE.pem`` writes ``MANIFEST.sig`` (the raw 64-byte
  Ed25519 signature over the exact bytes of ``MANIFEST.json``, base64, one line), and
  ``report verify DIR --public-key PUBLIC.pem`` accepts the directory only with a valid one.
  Keys: ``report keygen PREFIX`` writes ``PREFIX.key`` (PKCS#8 PEM, 0600) and ``PREFIX.pub``
  (SubjectPublicKeyInfo PEM). Keep the private key off the machines that produce reports.

Ed25519 through ``cryptography`` (OpenSSL): deterministic signatures, 32-byte keys, no parameter
choices to get wrong.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.errors import UsageError
from harness.files import atomic_write_bytes

__all__ = ["SIGNATURE_FILE", "generate_keypair", "sign_manifest", "signature_problem"]

SIGNATURE_FILE: Final = "MANIFEST.sig"
_MANIFEST: Final = "MANIFEST.json"


def generate_keypair(prefix: Path) -> tuple[Path, Path]:
    """Write ``prefix.key`` (private, 0600, refused if it exists) and ``prefix.pub``."""
    private_path, public_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:  # 0600, never over an existing key, never half-written
        atomic_write_bytes(private_path, private, exclusive=True)
    except FileExistsError:
        raise UsageError(f"{private_path}: exists; refusing to overwrite a private key") from None
    except OSError as exc:
        raise UsageError(f"{private_path}: cannot create ({exc.strerror})") from None
    atomic_write_bytes(public_path, public)
    return private_path, public_path


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the {what} ({exc.strerror})") from None


def _private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, "private key"), password=None)
    except (ValueError, TypeError):
        raise UsageError(f"{path}: expected an unencrypted PEM Ed25519 private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: expected an Ed25519 private key")
    return key


def _public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_read(path, "public key"))
    except ValueError:
        raise UsageError(f"{path}: expected a PEM Ed25519 public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{path}: expected an Ed25519 public key")
    return key


def sign_manifest(directory: Path, private_key: Path) -> Path:
    """Sign ``directory/MANIFEST.json``; writes and returns ``MANIFEST.sig``."""
    manifest = directory / _MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        raise UsageError(f"{manifest}: missing (or a symlink); nothing to sign")
    signature = _private_key(private_key).sign(manifest.read_bytes())
    out = directory / SIGNATURE_FILE
    atomic_write_bytes(out, base64.b64encode(signature) + b"\n")
    return out


def signature_problem(directory: Path, public_key: Path) -> str | None:
    """None when ``MANIFEST.sig`` is a valid signature of ``MANIFEST.json`` under the key; else
    what is wrong. A bad key file is a UsageError (exit 2), a bad signature a finding (exit 1)."""
    key = _public_key(public_key)
    sig_path = directory / SIGNATURE_FILE
    if sig_path.is_symlink() or not sig_path.is_file():
        return f"{SIGNATURE_FILE} missing: the manifest is not signed"
    try:
        signature = base64.b64decode(sig_path.read_bytes().strip(), validate=True)
        key.verify(signature, (directory / _MANIFEST).read_bytes())
    except (binascii.Error, ValueError, InvalidSignature):
        return (
            f"{SIGNATURE_FILE} does not verify under {public_key.name}: the manifest changed "
            "or was signed by another key"
        )
    except OSError as exc:
        return f"cannot read the manifest or signature ({exc.strerror})"
    return None
