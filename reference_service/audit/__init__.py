"""Tamper-evident, durable audit trail of scoring decisions (PCI DSS 10.2-10.3).

Usage from the service::

    trail = AuditTrail(Path(cfg.audit_dir), load_key(path=key_file, env_var="SLO_AUDIT_KEY"))
    await trail.start()                      # inside the running event loop
    await trail.append(AuditRecord(...))     # DURABLE: returns after fsync; AuditError -> 503
    await trail.close()                      # on shutdown: flush + fsync; idempotent

The line format is specified in docs/AUDIT_FORMAT.md; ``harness.audit`` verifies it independently.
"""

from __future__ import annotations

from reference_service.audit.errors import AuditError, AuditKeyError
from reference_service.audit.keys import AUDIT_KEY_ENV, MIN_AUDIT_KEY_BYTES, load_key
from reference_service.audit.record import (
    FORMAT_VERSION,
    GENESIS_MAC,
    AuditRecord,
    feature_hash,
    utc_timestamp,
)
from reference_service.audit.trail import AuditMode, AuditTrail, FsyncHook, new_stream_id

__all__ = [
    "AUDIT_KEY_ENV",
    "FORMAT_VERSION",
    "GENESIS_MAC",
    "MIN_AUDIT_KEY_BYTES",
    "AuditError",
    "AuditKeyError",
    "AuditMode",
    "AuditRecord",
    "AuditTrail",
    "FsyncHook",
    "feature_hash",
    "load_key",
    "new_stream_id",
    "utc_timestamp",
]
