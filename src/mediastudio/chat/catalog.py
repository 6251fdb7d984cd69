"""Which chat models this server offers, who serves each, and what a message costs.

OpenAI's curated models are ``openai/<model>``; every OpenAI-compatible server configured under
``MEDIASTUDIO_PROVIDERS__OPENAI_COMPATIBLE__<NAME>`` adds ``<name>/<model>`` for each model of
its ``MODELS``. Chat does not run as a job, so these are not engine models: the chat service
calls the client directly (see docs/providers.md#chat).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mediastudio.engines.providers.openai.chat import ChatClient
from mediastudio.engines.providers.openai.client import API_KEY_SETTING, PUBLIC_URL
from mediastudio.settings import Settings

OPENAI = "openai"
CHAT_TYPE = "chat"
# Credits per message, at the rate of the other OpenAI models: a message of a few thousand
# tokens costs a fraction of a cent on gpt-4o-mini and about 15 times as much on gpt-4o.
OPENAI_CHAT_MODELS: Mapping[str, tuple[str, int]] = {
    "gpt-4o-mini": ("GPT-4o mini", 1),
    "gpt-4o": ("GPT-4o", 10),
}
COMPATIBLE_CREDITS = 1  # a self-hosted model costs the operator no per-token fee
DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class ChatModel:
    id: str  # <provider>/<model>
    name: str
    provider: str
    target: str  # the model id the server knows
    credits: int  # per message
    available: bool
    unavailable_reason: str | None = None


class ChatModels:
    """The chat models and their clients, built once with the platform."""

    def __init__(self, settings: Settings, clients: Mapping[str, ChatClient] | None = None):
        self.settings = settings
        self.clients: dict[str, ChatClient] = (
            dict(clients) if clients is not None else _clients(settings)
        )
        self.models: dict[str, ChatModel] = {m.id: m for m in _models(settings)}

    def get(self, model_id: str) -> ChatModel | None:
        return self.models.get(model_id)

    def price(self, model: ChatModel) -> int:
        return self.settings.model_prices.get(model.id, model.credits)

    def default_id(self) -> str | None:
        if self.settings.chat_default_model:
            return self.settings.chat_default_model
        available = [m.id for m in self.models.values() if m.available]
        return available[0] if available else f"{OPENAI}/gpt-4o-mini"

    def describe(self, model: ChatModel, *, sandbox: bool) -> dict[str, Any]:
        """The model as ``GET /api/v1/models`` lists every model (type ``chat``, priced per
        message); a sandbox key may use every chat model (it gets placeholders)."""
        price = self.price(model)
        entry: dict[str, Any] = {
            "id": model.id,
            "name": model.name,
            "type": CHAT_TYPE,
            "credits_per_generation": price,
            "pricing": {"credits": price, "unit": "message"},
            "description": f"Chat with {model.target} on {model.provider} (POST /api/v1/chat).",
            "category": CHAT_TYPE,
            "available": sandbox or model.available,
        }
        if not entry["available"]:
            entry["unavailable_reason"] = model.unavailable_reason
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
        ChatModel(f"{OPENAI}/{target}", name, OPENAI, target, credits, has_key, reason)
        for target, (name, credits) in OPENAI_CHAT_MODELS.items()
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
