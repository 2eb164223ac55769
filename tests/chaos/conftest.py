"""Chaos tests: a per-test netns prefix, so `cleanup --all` never touches another run's labs."""

from __future__ import annotations

import secrets

import pytest

from harness.netns import PREFIX_ENV


@pytest.fixture(autouse=True)
def _own_netns_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PREFIX_ENV, f"slohc{secrets.token_hex(3)}-")
