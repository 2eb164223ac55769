"""Errors of the audit trail.

:class:`AuditError` is what the service turns into a 503: a decision whose record could not be
made durable is never answered. :class:`AuditKeyError` (a subclass) is raised at start-up for
missing or weak key material; its message names the source, never the key.
"""

from __future__ import annotations

__all__ = ["AuditError", "AuditKeyError"]


class AuditError(Exception):
    """The audit trail cannot accept or persist records (writer failed, closed, not started)."""


class AuditKeyError(AuditError):
    """Audit key material is missing, unreadable or shorter than the minimum."""
