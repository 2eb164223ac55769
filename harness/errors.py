"""The harness's one exception hierarchy.

Every error the harness raises on purpose derives from :class:`HarnessError`, and each branch
carries its exit code (``exit_code``, an :class:`ExitCode`) right here, in the one table every
process entry point uses (``harness.cli``, the worker process, the Locust plugin): a new subclass
inherits its parent's code, so no other module decides how the process ends::

    HarnessError
    ├── UsageError ............... exit 2  bad command line
    ├── SpecError ................ exit 2  an input file is malformed (file, field path, expected)
    │   └── ManifestError ...............  several Kubernetes manifest problems, one per line
    ├── MeasurementError ......... exit 3  the run could not be measured honestly
    │   ├── TargetUnreachable ...........  nothing answered before the run started
    │   ├── GeneratorSaturated ..........  the load generator polluted its own numbers (CPU, lag)
    │   ├── InsufficientData ............  too few samples for a verdict
    │   └── RunInterrupted ..............  SIGINT/SIGTERM/SIGHUP mid-run (partial results saved)
    ├── ServiceStartError ........ exit 3  a service the harness launches did not become ready
    ├── FaultError ............... exit 3  a fault could not be injected (or removed)
    │   ├── FaultUnsupported ............  this machine lacks the mechanism (cgroup freeze, quota)
    │   └── ProxyError ..................  the fault proxy refused a request or did not start
    ├── NetnsError ............... exit 3  a lab namespace, nft table or qdisc operation failed
    │   └── LabUnavailable ..............  this machine cannot host a lab (not root, nft/tc missing)
    ├── IntegrityError ........... exit 1  an artifact or audit trail failed verification
    └── ArtifactError ............ exit 2  an input artifact (report dir, baseline) is unreadable

An SLO breach is *not* an exception: it is a value in the verdict (``harness.slo``). Anything
that is not a HarnessError reaching an entry point is a bug ("internal error", exit 3); a property
test drives the CLI with generated flags and inputs to keep it that way.
"""

from __future__ import annotations

import enum
from typing import ClassVar

__all__ = [
    "ArtifactError",
    "ExitCode",
    "FaultError",
    "FaultUnsupported",
    "GeneratorSaturated",
    "HarnessError",
    "InsufficientData",
    "IntegrityError",
    "LabUnavailable",
    "ManifestError",
    "MeasurementError",
    "NetnsError",
    "ProxyError",
    "RunInterrupted",
    "ServiceStartError",
    "SpecError",
    "TargetUnreachable",
    "UsageError",
    "exit_code_for",
]


class ExitCode(enum.IntEnum):
    """Process exit codes of every entry point (CI reads 3 as "retry", 2 as "fix your config")."""

    OK = 0
    BREACHED = 1  # an objective breached, a regression found, or a verification failed
    USAGE = 2  # usage or configuration error: the message names file, field path, expectation
    UNMEASURABLE = 3  # could not be measured honestly, or a launched service did not start


class HarnessError(Exception):
    """Base class of every error the harness raises deliberately."""

    exit_code: ClassVar[ExitCode] = ExitCode.UNMEASURABLE


class UsageError(HarnessError):
    """The command line asked for something impossible or contradictory."""

    exit_code = ExitCode.USAGE


class SpecError(HarnessError):
    """An input file does not match its schema.

    ``file`` is the path as given, ``path`` a JSONPath-like field path (``$.phases[1].rate``),
    ``expected`` what would have been accepted. ``str()`` renders all three on one line.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, file: str, path: str, expected: str) -> None:
        self.file = file
        self.path = path
        self.expected = expected
        super().__init__(f"{file}: {path}: {expected}")


class ManifestError(SpecError):
    """Kubernetes manifests failed validation: every problem found, each a :class:`SpecError`.

    The loader collects all of them (schema and API-server checks, every file and document) so a
    pull request sees the whole list at once; ``str()`` is one problem per line.
    """

    def __init__(self, problems: tuple[SpecError, ...]) -> None:
        first = problems[0]
        super().__init__(first.file, first.path, first.expected)
        self.problems = problems
        self.args = ("\n".join(str(p) for p in problems),)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class MeasurementError(HarnessError):
    """The run happened but its numbers cannot be trusted (exit 3)."""

    exit_code = ExitCode.UNMEASURABLE


class TargetUnreachable(MeasurementError):
    """The target did not answer a readiness probe before the run."""


class GeneratorSaturated(MeasurementError):
    """The load generator's own CPU or schedule lag polluted the latencies."""


class InsufficientData(MeasurementError):
    """Too few samples to give any verdict at all."""


class RunInterrupted(MeasurementError):
    """The run was interrupted; what it measured was saved as an incomplete report (or not:
    the message says which, and how to rebuild it)."""


class ServiceStartError(HarnessError):
    """A process the harness launched (reference service, worker) did not become ready."""

    exit_code = ExitCode.UNMEASURABLE


class FaultError(HarnessError):
    """A fault could not be injected, observed or rolled back (the run is not what was asked)."""

    exit_code = ExitCode.UNMEASURABLE


class FaultUnsupported(FaultError):
    """The fault needs a mechanism this machine does not offer (checkable before a game day)."""


class ProxyError(FaultError):
    """The fault proxy refused a configuration (field path + expected), or did not start/answer."""


class NetnsError(HarnessError):
    """A network-namespace, nftables or tc operation failed (the lab is not what was asked)."""


class LabUnavailable(NetnsError):
    """This machine cannot host a namespace lab; the message names every missing capability."""


class IntegrityError(HarnessError):
    """An artifact, manifest or audit chain failed verification."""

    exit_code = ExitCode.BREACHED


class ArtifactError(HarnessError):
    """An input artifact (report directory, baseline, hlog) is missing or unreadable."""

    exit_code = ExitCode.USAGE


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code for ``exc`` at an entry point: its own for a HarnessError, else 3."""
    if isinstance(exc, HarnessError):
        return exc.exit_code
    return ExitCode.UNMEASURABLE
