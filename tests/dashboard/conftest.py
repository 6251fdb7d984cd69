"""Cheap argon2 parameters for these tests: the real ones (64 MiB, 3 passes) take most of a
second per hash on a loaded 2-core machine, and the rules tested here do not depend on them.
The browser test (tests/e2e/test_dashboard_browser.py) runs the real server with the real ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from mediastudio.users import service

CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
DUMMY = CHEAP.hash("nobody's password")


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(service, "_hasher", lambda: CHEAP)
    monkeypatch.setattr(service, "_dummy_hash", lambda: DUMMY)
    yield
