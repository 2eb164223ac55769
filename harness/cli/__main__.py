"""``python -m harness.cli``: the same entry point as the ``slo-harness`` console script."""

from harness.cli import main

main()
