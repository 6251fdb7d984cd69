"""Provider keys come from MEDIASTUDIO_PROVIDERS__<NAME>__* and stay secret."""

from __future__ import annotations

import pytest

from mediastudio.settings import load_settings

KEY = "r8_SettingsTestSecret"


def test_the_key_and_base_url_come_from_the_environment_and_the_key_stays_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY", KEY)
    monkeypatch.setenv("MEDIASTUDIO_PROVIDERS__REPLICATE__BASE_URL", "https://proxy.example")
    settings = load_settings()
    replicate = settings.providers.replicate
    assert replicate.api_key is not None and replicate.api_key.get_secret_value() == KEY
    assert replicate.base_url == "https://proxy.example" and replicate.poll_interval_s == 0.5
    assert KEY not in repr(settings) and KEY not in settings.model_dump_json()


def test_without_the_variables_no_provider_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY", raising=False)
    replicate = load_settings().providers.replicate
    assert replicate.api_key is None and replicate.base_url is None  # the public URL then


def test_fal_is_configured_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIASTUDIO_PROVIDERS__FAL__API_KEY", "fal-id:fal-secret")
    monkeypatch.setenv("MEDIASTUDIO_PROVIDERS__FAL__QUEUE_TIMEOUT_S", "120")
    settings = load_settings()
    fal = settings.providers.fal
    assert fal.api_key is not None and fal.api_key.get_secret_value() == "fal-id:fal-secret"
    assert fal.base_url is None and fal.queue_timeout_s == 120
    assert "fal-secret" not in repr(settings) and "fal-secret" not in settings.model_dump_json()


def test_elevenlabs_is_configured_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIASTUDIO_PROVIDERS__ELEVENLABS__API_KEY", "sk_eleven-secret")
    monkeypatch.setenv("MEDIASTUDIO_PROVIDERS__ELEVENLABS__VOICES_TTL_S", "60")
    settings = load_settings()
    eleven = settings.providers.elevenlabs
    assert eleven.api_key is not None and eleven.api_key.get_secret_value() == "sk_eleven-secret"
    assert eleven.base_url is None and eleven.voices_ttl_s == 60 and eleven.timeout_s == 120
    assert "eleven-secret" not in repr(settings)
    assert "eleven-secret" not in settings.model_dump_json()


def test_openai_compatible_servers_are_named_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prefix = "MEDIASTUDIO_PROVIDERS__OPENAI_COMPATIBLE__OLLAMA__"
    monkeypatch.setenv(prefix + "BASE_URL", "http://127.0.0.1:11434/v1")
    monkeypatch.setenv(prefix + "MODELS", "llama3.2, qwen2.5,")
    server = load_settings().providers.openai_compatible["ollama"]
    assert server.base_url == "http://127.0.0.1:11434/v1" and server.api_key is None
    assert server.model_ids == ("llama3.2", "qwen2.5")


def test_an_openai_compatible_server_may_not_take_a_builtin_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MEDIASTUDIO_PROVIDERS__OPENAI_COMPATIBLE__FAL__BASE_URL", "http://x/v1")
    with pytest.raises(ValueError, match="OpenAI-compatible provider name 'fal'"):
        load_settings()
