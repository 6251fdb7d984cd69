"""The examples of docs/sdk.md run as written, against a real server with a sandbox key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.client.conftest import Served
from tests.e2e.server import REPO_ROOT

pytestmark = pytest.mark.e2e
# The webhooks example registers a receiver on this machine, as a developer would.
SERVER_ENV = {"MEDIASTUDIO_NET_ALLOW_HOSTS": "127.0.0.1"}

BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
# Blocks that name a job by placeholder id show calls, not a script.
PLACEHOLDER = '"gen_…"'


def test_the_sdk_page_examples_run(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = BLOCK.findall((REPO_ROOT / "docs" / "sdk.md").read_text())
    runnable = [block for block in blocks if PLACEHOLDER not in block]
    assert len(runnable) >= 8, "the page lost its examples"
    monkeypatch.setenv("MEDIASTUDIO_API_KEY", served.key)
    monkeypatch.setenv("MEDIASTUDIO_URL", served.url)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "sdk_docs"}
    for block in runnable:
        exec(compile(block, "docs/sdk.md", "exec"), namespace)
    assert (tmp_path / "bicycle-0.png").stat().st_size > 0
    assert (tmp_path / "notice.mp3").stat().st_size > 0
    assert (tmp_path / "kite.webp").stat().st_size > 0
