"""slo-harness: latency-SLO test and chaos harness for real-time payment scoring services.

Subpackages (see docs/ARCHITECTURE.md): ``spec`` (input files), ``load`` (Locust; imported lazily),
``measure`` (HDR histograms), ``slo`` (verdicts), ``report`` (artifacts), ``audit`` (audit-trail
verifier). ``harness.cli`` is the command line.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("slo-harness")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
