"""A fake Replicate and a fake fal on loopback, and the platform configured to use them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mediastudio.settings import Settings
from tests.conftest import Api, make_settings, open_api
from tests.providers.fake_elevenlabs import FakeElevenLabs, RunningElevenLabs
from tests.providers.fake_fal import FakeFal, RunningFal
from tests.providers.fake_openai import FakeOpenAI, RunningOpenAI
from tests.providers.fake_replicate import FakeReplicate, RunningFake


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with RunningFake() as running:
        yield running


def replicate_settings(data_dir: Path, fake: FakeReplicate, **overrides: Any) -> Settings:
    """The platform with a Replicate key, pointed at the fake, polling it quickly; the
    fetcher may reach the fake's port on loopback (its output URLs)."""
    port = urlsplit(fake.base_url).port
    values: dict[str, Any] = {
        "providers": {
            "replicate": {
                "api_key": fake.token,
                "base_url": fake.base_url,
                "poll_interval_s": 0.02,
                "poll_max_interval_s": 0.1,
            }
        },
        "net_allow_hosts": f"127.0.0.1:{port}",
    }
    values.update(overrides)
    return make_settings(data_dir, **values)


@pytest.fixture
async def api(tmp_path: Path, fake: FakeReplicate) -> AsyncIterator[Api]:
    async with open_api(replicate_settings(tmp_path / "data", fake)) as opened:
        yield opened


@pytest.fixture
def fal() -> Iterator[FakeFal]:
    with RunningFal() as running:
        yield running


def providers_settings(
    data_dir: Path,
    *,
    replicate: FakeReplicate | None = None,
    fal: FakeFal | None = None,
    replicate_options: dict[str, Any] | None = None,
    fal_options: dict[str, Any] | None = None,
    **overrides: Any,
) -> Settings:
    """The platform with a key for each fake given (and none for the others), polling quickly;
    the fetcher may reach the fakes' ports on loopback (their output URLs)."""
    providers: dict[str, Any] = {}
    ports = []
    for name, fake, key, options in (
        ("replicate", replicate, replicate and replicate.token, replicate_options),
        ("fal", fal, fal and fal.key, fal_options),
    ):
        if fake is None:
            continue
        providers[name] = {
            "api_key": key,
            "base_url": fake.base_url,
            "poll_interval_s": 0.02,
            "poll_max_interval_s": 0.1,
            **(options or {}),
        }
        ports.append(f"127.0.0.1:{urlsplit(fake.base_url).port}")
    values: dict[str, Any] = {"providers": providers, "net_allow_hosts": ",".join(ports)}
    values.update(overrides)
    return make_settings(data_dir, **values)


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with RunningOpenAI() as running:
        yield running


def openai_settings(data_dir: Path, fake: FakeOpenAI, **overrides: Any) -> Settings:
    """The platform with an OpenAI key, pointed at the fake (its ``/v1``); the fetcher may
    reach the fake's port on loopback (dall-e-3's image URLs)."""
    values: dict[str, Any] = {
        "providers": {"openai": {"api_key": fake.key, "base_url": fake.api_url}},
        "net_allow_hosts": f"127.0.0.1:{urlsplit(fake.base_url).port}",
    }
    values.update(overrides)
    return make_settings(data_dir, **values)


@pytest.fixture
def elevenlabs_fake() -> Iterator[FakeElevenLabs]:
    with RunningElevenLabs() as running:
        yield running


def elevenlabs_settings(data_dir: Path, fake: FakeElevenLabs, **overrides: Any) -> Settings:
    """The platform with an ElevenLabs key, pointed at the fake."""
    values: dict[str, Any] = {
        "providers": {"elevenlabs": {"api_key": fake.key, "base_url": fake.base_url}},
    }
    values.update(overrides)
    return make_settings(data_dir, **values)
