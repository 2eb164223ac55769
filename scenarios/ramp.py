"""Locust plugin entry for ``ramp.yaml``: ``locust -f scenarios/ramp.py`` (add ``--headless``
or open the web UI). Open-model pacing, HDR recording, CO correction and the end-of-run summary
come from :mod:`harness.load.plugin`; ``--host`` overrides the target (default: the reference
service, started on a free loopback port), ``--slo-rate``/``--slo-duration`` the main phase."""

from harness.entrypoints import scenario_plugin

SloUser, ScenarioShape = scenario_plugin(__file__)
