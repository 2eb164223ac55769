"""``slo-harness serve``: the reference fraud-scoring service, exec'd in this process."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from harness.cli._app import cli, guarded


# -- serve ---------------------------------------------------------------------------------
@cli.command(context_settings={"ignore_unknown_options": True})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--audit-dir", type=click.Path(path_type=Path), help="Audit trail directory.")
@click.option("--redis-url", help="Feature store in Redis instead of in-process.")
@click.argument("extra", nargs=-1, type=click.UNPROCESSED)
@guarded
def serve(
    host: str,
    port: int,
    workers: int,
    audit_dir: Path | None,
    redis_url: str | None,
    extra: Sequence[str],
) -> None:
    """Run the reference fraud-scoring service (extra flags go to the service)."""
    from harness.target import require_service

    require_service()  # `pip install .` has no service: say how to get it, exit 2
    argv = [sys.executable, "-m", "reference_service", "--host", host, "--port", str(port)]
    argv += ["--workers", str(workers)]
    if audit_dir is not None:
        argv += ["--audit-dir", str(audit_dir)]
    if redis_url:
        argv += ["--redis-url", redis_url]
    argv += list(extra)
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # the service owns signals (SIGTERM drains) from here on
