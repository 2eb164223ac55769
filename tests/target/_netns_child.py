"""Run ``slo-harness`` several times in one process (one import) and print each exit code and
stderr as JSON lines: the netns test starts this once under ``unshare -n``."""

from __future__ import annotations

import contextlib
import io
import json
import sys

from harness.cli import main

for raw in sys.argv[1:]:
    err = io.StringIO()
    code: object = 0
    with contextlib.redirect_stderr(err):
        try:
            main(json.loads(raw))
        except SystemExit as exc:
            code = exc.code
    print(json.dumps({"code": code, "stderr": err.getvalue()}), flush=True)
