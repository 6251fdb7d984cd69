"""One real ``mediastudio serve`` process for the module's SDK tests, with a sandbox key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.server import ServerProcess


@dataclass(frozen=True)
class Served:
    process: ServerProcess
    key: str  # a sandbox key (ms_test_…): placeholder media, no credits spent
    live_key: str | None = None  # a live key of the same account, for modules that ask

    @property
    def url(self) -> str:
        return self.process.base_url


@pytest.fixture(scope="module")
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A module may add settings with a ``SERVER_ENV`` dict, and ask for a live key too with
    ``LIVE_KEY = True`` (made while the server starts, where it costs no test time)."""
    process = ServerProcess(tmp_path_factory.mktemp("sdk"))
    try:
        process.create_account("sdk@example.com", credits=100)
        # The built-in engines too, so that docs/sdk.md's examples name real models (a sandbox
        # key runs their sandbox twins: placeholders of the same shapes, nothing heavy).
        env = {"MEDIASTUDIO_DISABLED_ENGINES": "[]", **getattr(request.module, "SERVER_ENV", {})}
        process.start(env, wait=False)
        key = process.create_key("sdk@example.com", name="sdk", test=True)[1]
        live = None
        if getattr(request.module, "LIVE_KEY", False):
            live = process.create_key("sdk@example.com", name="sdk-live")[1]
        process.wait_ready()
        yield Served(process, key, live)
    except BaseException:
        print(process.logs())
        raise
    finally:
        process.stop()
