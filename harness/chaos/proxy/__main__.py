"""``python -m harness.chaos.proxy``: see :mod:`harness.chaos.proxy.main`."""

from harness.chaos.proxy.main import main

main()
