"""MediaStudio: a self-hostable generative-media API platform."""

from typing import TYPE_CHECKING, Any

from mediastudio.webhooks.verify import WebhookVerificationError, verify_webhook

if TYPE_CHECKING:
    from mediastudio.client import AsyncClient, Client

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "WebhookVerificationError", "__version__", "verify_webhook"]

# The SDK loads on first use, so that the server (and ``import mediastudio``) never pays for it.
_SDK = frozenset({"AsyncClient", "Client"})


def __getattr__(name: str) -> Any:
    if name in _SDK:
        from mediastudio import client

        return getattr(client, name)
    raise AttributeError(f"module 'mediastudio' has no attribute {name!r}")
