"""Suite-wide rules: tests that need root, redis-server or chromium skip with the reason stated."""

from __future__ import annotations

import os
import shutil

import pytest

_REQUIREMENTS: dict[str, tuple[bool, str]] = {
    "root": (
        hasattr(os, "geteuid") and os.geteuid() == 0,
        "needs root (network namespaces, nftables, cgroups); CI runs as root",
    ),
    "redis": (
        shutil.which("redis-server") is not None,
        "needs the redis-server binary (scripts/install-test-deps.sh installs it)",
    ),
    "browser": (
        shutil.which("chromium") is not None,
        "needs /usr/bin/chromium (scripts/install-test-deps.sh installs it)",
    ),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip marked tests whose requirement is missing, saying which and why."""
    for item in items:
        for name, (present, reason) in _REQUIREMENTS.items():
            if item.get_closest_marker(name) is not None and not present:
                item.add_marker(pytest.mark.skip(reason=reason))
