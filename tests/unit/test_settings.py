from __future__ import annotations

from pathlib import Path

import pytest

from mediastudio.settings import load_settings


def test_defaults_are_the_embedded_deployment(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert (
        settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/mediastudio.db"
    )
    assert settings.resolved_storage_url == f"file://{tmp_path.resolve()}/files"
    assert {"free", "pro", "enterprise", "unlimited"} <= set(settings.plans)
    unlimited = settings.plans["unlimited"]
    assert unlimited.rate_limit is None and unlimited.max_concurrent_jobs is None
    assert unlimited.daily_quotas == {}


def test_environment_refines_one_plan_field_without_dropping_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIASTUDIO_PLANS__FREE__RATE_LIMIT", "30/minute")
    monkeypatch.setenv("MEDIASTUDIO_PORT", "9001")
    settings = load_settings()
    assert settings.port == 9001
    assert settings.plans["free"].rate_limit == "30/minute"
    assert settings.plans["free"].daily_quotas["image"] == 10
    assert settings.plans["pro"].rate_limit == "600/minute"


def test_toml_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "mediastudio.toml"
    config.write_text('port = 7000\n[plans.team]\nrate_limit = "100/minute"\n')
    monkeypatch.setenv("MEDIASTUDIO_PORT", "7100")  # the environment wins over the file
    settings = load_settings(config)
    assert settings.port == 7100
    assert settings.plans["team"].rate_limit == "100/minute"


def test_signing_key_is_created_once_and_private(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    first = settings.signing_key()
    assert first == load_settings(data_dir=tmp_path).signing_key()
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert load_settings(data_dir=tmp_path, secret_key="configured").signing_key() == b"configured"


def test_unknown_plan_falls_back_to_the_default_plan_never_unlimited(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.plan("gone") == settings.plans["free"]


def test_a_malformed_plan_limit_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIASTUDIO_PLANS__FREE__RATE_LIMIT", "60 per fortnight-ish")
    with pytest.raises(ValueError, match="rate_limit"):
        load_settings()


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://ms:pw@db:5432/media", "postgresql+asyncpg://ms:pw@db:5432/media"),
        ("postgres://ms@db/media", "postgresql+asyncpg://ms@db/media"),
        (
            "postgresql+asyncpg://ms@db/media?ssl=require",
            "postgresql+asyncpg://ms@db/media?ssl=require",
        ),
    ],
)
def test_a_plain_postgresql_url_uses_asyncpg(tmp_path: Path, given: str, used: str) -> None:
    settings = load_settings(data_dir=tmp_path, database_url=given, database_pool_size=4)
    assert settings.resolved_database_url == used
    assert not settings.is_sqlite
