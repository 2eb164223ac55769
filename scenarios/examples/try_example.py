"""Try an example scenario against the example service, with one command.

    python scenarios/examples/try_example.py own-api|triton|mlserver|kserve|factory [--quick]

Starts ``example_service.py`` on a free loopback port (with a token, a two-input demo model
``risk``, and for ``kserve`` host-based routing), runs ``slo-harness run`` on the example with
``--target`` pointing at it (``--quick``: 12 s of steady load instead of 20 s), stops the service
and exits with slo-harness's exit code. Reports land in ``reports/examples/<name>/``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = ("own-api", "triton", "mlserver", "kserve", "factory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("example", choices=EXAMPLES)
    parser.add_argument("--quick", action="store_true", help="12 s of steady load")
    parser.add_argument("--out", type=Path, help="report folder (default reports/examples/NAME)")
    args = parser.parse_args(argv)
    token = secrets.token_urlsafe(16)
    service = [sys.executable, str(HERE / "example_service.py"), "--port", "0",
               "--token", token, "--demo-model", "risk"]  # fmt: skip
    if args.example == "kserve":
        service += ["--host", "risk.default.example.com"]
    proc = subprocess.Popen(service, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            print(f"the example service did not start: {line!r}", file=sys.stderr)
            return 3
        url = line.split()[-1]
        out = args.out or Path("reports") / "examples" / args.example
        run = [sys.executable, "-m", "harness.cli", "run", str(HERE / f"{args.example}.yaml"),
               "--target", url, "--out", str(out)]  # fmt: skip
        if args.quick:
            run += ["--duration", "12"]  # 1,200 judged requests: enough for p99
        print("$ " + " ".join(run), flush=True)
        return subprocess.run(run, env={**os.environ, "RISK_TOKEN": token}, check=False).returncode
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


if __name__ == "__main__":
    sys.exit(main())
