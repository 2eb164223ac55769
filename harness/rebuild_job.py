"""The report of an interrupted run, from the interval log it streamed into its output directory.

Two ways in, one code path (:func:`_report_from_log`):

- ``slo-harness report rebuild DIR`` (:func:`rebuild_report`), after a run was SIGKILLed or lost
  its machine: the log is valid up to its last complete interval;
- ``slo-harness run`` itself on SIGINT/SIGTERM/SIGHUP (:func:`salvage`, called by
  :func:`harness.pipeline.run` once everything the run started has stopped): the same report,
  with "interrupted by SIGTERM after N s" first among the generator's reasons, written under a
  time bound (:data:`SALVAGE_TIMEOUT_S`, SIGALRM); a timeout or a second signal abandons the staged
  write (``write_reports`` publishes all or nothing) and keeps the log for ``report rebuild``.

Either way the result is marked incomplete (``run.incomplete``) and the verdict is INVALID: the
generator's self-check is not in the log, so nothing rebuilt can pass (exit 3).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from harness.errors import ArtifactError, RunInterrupted, UsageError
from harness.measure import log_phases, read_series, result_from_log
from harness.report import (
    ReportInputs,
    ReportPaths,
    collect_provenance,
    report_series,
    write_reports,
)
from harness.slo import SloSeries, Verdict, evaluate
from harness.spec import default_slo, load_slo

__all__ = ["PARTIAL_LOG_FILE", "SALVAGE_TIMEOUT_S", "RebuiltReport", "rebuild_report", "salvage"]


@dataclass(frozen=True, slots=True)
class RebuiltReport:
    """What a rebuild wrote: the (INVALID) verdict and the report family's paths."""

    verdict: Verdict
    paths: ReportPaths
    out_dir: Path


#: The interval log a run streams into its output directory while it runs; removed once the
#: report family (with latency.hlog) is written. An interrupted run turns it into its incomplete
#: report itself (:func:`salvage`); after a SIGKILL, ``report rebuild`` does.
PARTIAL_LOG_FILE: Final = "latency.partial.hlog"
#: Longest an interrupted run spends writing its partial report before it gives up and leaves
#: the log for ``report rebuild`` (s). Kubernetes' default grace before SIGKILL is 30 s. Measured:
#: 2-3 s on a quiet 2-core machine, 12-19 s at load average 12 (the HTML plots import and draw
#: matplotlib). A runner that sends a second signal sooner (GitHub Actions: SIGTERM 7.5 s after
#: SIGINT) ends the write cleanly: nothing half-written, the log kept, the message says so.
SALVAGE_TIMEOUT_S: Final = 30.0


def rebuild_report(directory: Path, *, slo_path: Path | None = None) -> RebuiltReport:
    """The report family of an interrupted run, from the interval log it streamed.

    Reads ``latency.partial.hlog`` (or a ``latency.hlog`` that carries ``#[Run: ...]``), rebuilds
    what it measured up to its last complete interval (:func:`harness.measure.result_from_log`:
    marked incomplete, generator unknown, so the verdict is INVALID), judges it against
    ``slo_path`` or the default SLO, and writes the report family into ``directory``; the partial
    log is removed once latency.hlog holds its series.
    """
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory")
    partial = directory / PARTIAL_LOG_FILE
    log_path = partial if partial.exists() else directory / "latency.hlog"
    if not log_path.exists():
        raise UsageError(f"{directory}: no {PARTIAL_LOG_FILE} or latency.hlog to rebuild from")
    return _report_from_log(directory, log_path, slo_path)


def _report_from_log(
    directory: Path, log_path: Path, slo_path: Path | None, why: str | None = None
) -> RebuiltReport:
    log = read_series(log_path)
    slo = load_slo(slo_path) if slo_path else default_slo()
    # One pass over the log: phase totals, the SLO's windows and the reports' series together.
    slo_series = SloSeries(log_phases(log), slo)
    with report_series(log) as series:
        result = result_from_log(log, consumers=[slo_series, series])
        if why is not None:  # first of the generator's reasons: verdict's, summary.md's, junit's
            generator = replace(result.generator, reasons=(why, *result.generator.reasons))
            result = replace(result, generator=generator)
        verdict = evaluate(result, slo, series=slo_series)
        provenance = collect_provenance(
            scenario_path=Path(result.scenario.path),
            slo_path=slo_path,
            target=result.target,
            started_at=result.started_at,
            ended_at=result.ended_at,
            cwd=Path.cwd(),
        )
        # The series is read lazily from log_path while the reports are rendered; only then is
        # latency.hlog replaced (staging + rename), so reading from either file is safe.
        paths = write_reports(directory, ReportInputs(result, verdict, provenance), series=series)
    (directory / PARTIAL_LOG_FILE).unlink(missing_ok=True)
    return RebuiltReport(verdict, paths, directory)


class _SalvageTimeout(Exception):
    """Raised by SIGALRM when writing the partial report took too long."""


def _alarm(_signum: int, _frame: object) -> None:
    raise _SalvageTimeout


def salvage(out_dir: Path, slo_path: Path | None, why: str) -> RunInterrupted:
    """Write the incomplete report family of an interrupted run, bounded in time.

    Everything the run started has been stopped by now (the ``finally`` blocks ran). The report is
    rebuilt from the interval log like ``report rebuild`` does (same code, verdict INVALID), with
    ``why`` first among its reasons. ``write_reports`` stages and renames, so a timeout or another
    signal mid-write leaves no half-written file, only the log (and the message says what to run).
    """
    log = out_dir / PARTIAL_LOG_FILE
    rebuild = f"`slo-harness report rebuild {out_dir}` makes its report"
    if not log.exists():
        return RunInterrupted(f"{why}; nothing was measured yet, so nothing was saved")
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, SALVAGE_TIMEOUT_S)
    try:
        outcome = _report_from_log(out_dir, log, slo_path, why + " (saved automatically)")
    except (_SalvageTimeout, KeyboardInterrupt) as exc:
        what = (
            f"not finished within {SALVAGE_TIMEOUT_S:g} s"
            if isinstance(exc, _SalvageTimeout)
            else "interrupted again"
        )
        return RunInterrupted(
            f"{why}; writing the partial report was {what}: its interval log {log} is kept "
            f"and {rebuild}"
        )
    except (ArtifactError, OSError) as exc:  # a log without a single interval, a full disk
        return RunInterrupted(f"{why}; no partial report ({exc}); {rebuild} if the log has data")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return RunInterrupted(
        f"{why}; partial results saved, marked incomplete (verdict INVALID): "
        f"{outcome.paths.report_html} (manifest sha256 {outcome.paths.manifest_sha256})"
    )
