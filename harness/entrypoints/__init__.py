"""Process entry points other than ``harness.cli``, at the top floor next to it.

- :func:`scenario_plugin`: what a locustfile calls (``locust -f scenarios/<name>.py``);
- ``python -m harness.entrypoints.worker``: one local worker process of ``--workers N``.

Both map a :class:`harness.errors.HarnessError` to one line and the exit code it carries (the same
table as the CLI) and import Locust only through ``harness.load``.
"""

from harness.entrypoints.locust_plugin import scenario_plugin

__all__ = ["scenario_plugin"]
