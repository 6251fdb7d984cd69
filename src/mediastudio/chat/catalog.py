"""Which chat models this server offers, who serves each, and what a message costs.

OpenAI's curated models are ``openai/<model>``; every OpenAI-compatible server configured under
``MEDIASTUDIO_PROVIDERS__OPENAI_COMPATIBLE__<NAME>`` adds ``<name>/<model>`` for each model of
its ``MODELS``. Chat does not run as a job, so these are not engine models: the chat service
calls the client directly (see docs/providers/openai.md#chat).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from mediastudio.catalog.lifecycle import (
    Clock,
    deprecation_fields,
    is_retired,
    lifecycle_clock,
    retired_reason,
)
from mediastudio.engines.contract import Availability, Deprecation
from mediastudio.engines.providers.openai.chat import ChatClient
from mediastudio.engines.providers.openai.client import API_KEY_SETTING, PUBLIC_URL
from mediastudio.settings import Settings

OPENAI = "openai"
CHAT_TYPE = "chat"
# OpenAI's announced shutdown of gpt-4o and gpt-4o-mini (the official client's ChatModel notes).
GPT_4O_SHUTDOWN = Deprecation(date(2027, 1, 14), f"{OPENAI}/gpt-5.4-mini")


@dataclass(frozen=True)
class OpenAIChatModel:
    """One of OpenAI's models as this catalog offers it. ``credits`` is per message, at the
    rate of the other OpenAI models: a message of a few thousand tokens costs a fraction of a
    cent on gpt-4o-mini and gpt-5.4-mini, about 15 times as much on gpt-4o and gpt-5.4, and
    twice that on gpt-5.5 (OpenAI's per-token prices). ``reasoning`` models take only the
    default temperature (1): another one is a 400 of ours, never sent."""

    name: str
    credits: int
    reasoning: bool = False
    deprecation: Deprecation | None = None


# The first one is the default (chat's default is never a deprecated model).
OPENAI_CHAT_MODELS: Mapping[str, OpenAIChatModel] = {
    "gpt-5.4-mini": OpenAIChatModel("GPT-5.4 mini", 1, reasoning=True),
    "gpt-5.4": OpenAIChatModel("GPT-5.4", 10, reasoning=True),
    "gpt-5.5": OpenAIChatModel("GPT-5.5", 20, reasoning=True),
    "gpt-4o-mini": OpenAIChatModel("GPT-4o mini", 1, deprecation=GPT_4O_SHUTDOWN),
    "gpt-4o": OpenAIChatModel("GPT-4o", 10, deprecation=GPT_4O_SHUTDOWN),
}
DEFAULT_CHAT_MODEL = f"{OPENAI}/gpt-5.4-mini"
COMPATIBLE_CREDITS = 1  # a self-hosted model costs the operator no per-token fee
DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class ChatModel:
    id: str  # <provider>/<model>
    name: str
    provider: str
    target: str  # the model id the server knows
    credits: int  # per message
    available: bool  # configured here (a key, a server); see ChatModels.availability
    unavailable_reason: str | None = None
    reasoning: bool = False  # takes only the default temperature
    deprecation: Deprecation | None = None


class ChatModels:
    """The chat models and their clients, built once with the platform."""

    def __init__(
        self,
        settings: Settings,
        clients: Mapping[str, ChatClient] | None = None,
        clock: Clock | None = None,
    ):
        self.settings = settings
        self.clients: dict[str, ChatClient] = (
            dict(clients) if clients is not None else _clients(settings)
        )
        self.models: dict[str, ChatModel] = {m.id: m for m in _models(settings)}
        # What "today" is for the models' lifecycle (the settings may pin it; tests move it).
        self.clock = clock or lifecycle_clock(settings)

    def get(self, model_id: str) -> ChatModel | None:
        return self.models.get(model_id)

    def price(self, model: ChatModel) -> int:
        return self.settings.price_of(model.id, model.credits)

    def retired(self, model: ChatModel) -> bool:
        return is_retired(model.deprecation, self.clock())

    def availability(self, model: ChatModel, *, sandbox: bool) -> Availability:
        """Whether a key may chat with ``model`` now: never once it is retired, always under a
        sandbox key otherwise (it gets placeholders), else when its server is configured."""
        if model.deprecation is not None and self.retired(model):
            return Availability.missing(retired_reason(model.id, model.deprecation))
        if sandbox or model.available:
            return Availability.ok()
        return Availability.missing(model.unavailable_reason or "not configured")

    def default_id(self) -> str:
        """The configured default, else the first model that runs here and is not deprecated,
        else the first that is not retired."""
        if self.settings.chat_default_model:
            return self.settings.chat_default_model
        running = [m for m in self.models.values() if m.available and not self.retired(m)]
        current = [m for m in running if m.deprecation is None]
        chosen = current or running
        return chosen[0].id if chosen else DEFAULT_CHAT_MODEL

    def describe(self, model: ChatModel, *, sandbox: bool) -> dict[str, Any]:
        """The model as ``GET /api/v1/models`` lists every model (type ``chat``, priced per
        message); a sandbox key may use every chat model that is not retired."""
        price = self.price(model)
        availability = self.availability(model, sandbox=sandbox)
        entry: dict[str, Any] = {
            "id": model.id,
            "name": model.name,
            "type": CHAT_TYPE,
            "credits_per_generation": price,
            "pricing": {"credits": price, "unit": "message"},
            "description": f"Chat with {model.target} on {model.provider} (POST /api/v1/chat).",
            "category": CHAT_TYPE,
            "available": availability.available,
        }
        if not availability.available:
            entry["unavailable_reason"] = availability.reason
        if model.deprecation is not None:
            entry["deprecation"] = deprecation_fields(model.deprecation)
        return entry

    def client(self, model: ChatModel) -> ChatClient | None:
        return self.clients.get(model.provider)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()


def _models(settings: Settings) -> list[ChatModel]:
    has_key = settings.providers.openai.api_key is not None
    reason = None if has_key else f"set {API_KEY_SETTING}"
    models = [
        ChatModel(
            f"{OPENAI}/{target}",
            offer.name,
            OPENAI,
            target,
            offer.credits,
            has_key,
            reason,
            reasoning=offer.reasoning,
            deprecation=offer.deprecation,
        )
        for target, offer in OPENAI_CHAT_MODELS.items()
    ]
    for provider, server in settings.providers.openai_compatible.items():
        models.extend(
            ChatModel(f"{provider}/{target}", target, provider, target, COMPATIBLE_CREDITS, True)
            for target in server.model_ids
        )
    return models


def _clients(settings: Settings) -> dict[str, ChatClient]:
    clients: dict[str, ChatClient] = {}
    openai = settings.providers.openai
    if openai.api_key is not None:
        clients[OPENAI] = ChatClient(
            OPENAI,
            openai.base_url or PUBLIC_URL,
            openai.api_key,
            timeout_s=openai.timeout_s,
            max_retry_wait_s=openai.max_retry_wait_s,
            setting=API_KEY_SETTING,
            compatible=False,
        )
    for name, server in settings.providers.openai_compatible.items():
        clients[name] = ChatClient(
            name,
            server.base_url,
            server.api_key,
            timeout_s=server.timeout_s,
            max_retry_wait_s=server.max_retry_wait_s,
            setting=f"MEDIASTUDIO_PROVIDERS__OPENAI_COMPATIBLE__{name.upper()}__API_KEY",
            compatible=True,
        )
    return clients
