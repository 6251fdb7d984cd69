"""The ``server`` fixture: a data directory and a ``mediastudio serve`` process that never
outlives its test. When a test fails, every server log of that test is printed with it."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess

FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """Not started yet: create accounts and keys with its CLI, then ``server.start()``."""
    process = ServerProcess(tmp_path)
    try:
        yield process
    finally:
        process.stop()
        if request.node.stash.get(FAILED, False):
            print(process.logs())
