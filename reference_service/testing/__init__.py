"""Helpers that drive the reference service, for its tests and the benchmarks (issue 12: one
importable place instead of ``tests/*_support.py`` modules put on ``sys.path`` by hand).

- ``replay``: the service's own scoring pipeline run in-process into a real durable audit trail
  (:func:`drive`), with a feature store that stalls for a set of cards, and a forger's
  :func:`rechain`; what ``audit replay`` tests and ``benchmarks/bench_replay.py`` score.
- ``openloop``: an open-model HTTP/1.1 load source on raw keep-alive sockets (:func:`open_loop`,
  :func:`closed_loop_capacity`, :func:`probe_ready`); what the overload tests and
  ``benchmarks/bench_overload.py`` send.
- ``requests``: a valid score request body (:func:`transaction`) and a key file
  (:func:`write_key`).

Like the rest of ``reference_service`` it never imports ``harness``. PANs it makes are synthetic
(test BIN 999999, Luhn digit computed).
"""

from reference_service.testing.openloop import (
    Outcome,
    closed_loop_capacity,
    open_loop,
    probe_ready,
    score_request,
)
from reference_service.testing.replay import (
    AUDIT_KEY,
    PAN_KEY,
    SENT_PANS,
    THRESHOLDS,
    DrivenTrail,
    drive,
    key_file,
    rechain,
    thresholds_file,
)
from reference_service.testing.requests import transaction, write_key

__all__ = [
    "AUDIT_KEY",
    "PAN_KEY",
    "SENT_PANS",
    "THRESHOLDS",
    "DrivenTrail",
    "Outcome",
    "closed_loop_capacity",
    "drive",
    "key_file",
    "open_loop",
    "probe_ready",
    "rechain",
    "score_request",
    "thresholds_file",
    "transaction",
    "write_key",
]
