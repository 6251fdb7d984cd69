"""The ``server`` fixture: a data directory and a ``mediastudio serve`` process that never
outlives its test. When a test fails, every server log of that test is printed with it."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.server import ServerProcess
from tests.redis_server import unique_prefix

# The browser tests' Chromium: Debian's, from `make browser`.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

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


@pytest.fixture
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """Two servers, not started, on ONE data directory (so one database), each with its log."""
    first, second = ServerProcess(tmp_path / "a"), ServerProcess(tmp_path / "b")
    for process in (first, second):
        process.root.mkdir()
    second.data_dir = first.data_dir
    try:
        yield [first, second]
    finally:
        for process in (first, second):
            process.stop()
        if request.node.stash.get(FAILED, False):
            for process in (first, second):
                print(process.logs())


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the development Redis, its keys deleted afterwards."""
    yield from unique_prefix()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium; missing, the test skips on a developer's machine and fails in CI."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
