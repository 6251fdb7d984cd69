"""Every ORM model, imported in one place so that Base.metadata knows all tables."""

from mediastudio.accounts.models import Account
from mediastudio.chat.models import ChatMessageRow, Conversation
from mediastudio.credits.models import CreditGrantToken, LedgerEntry
from mediastudio.files.models import StoredFile
from mediastudio.generations.models import Generation
from mediastudio.idempotency.models import IdempotencyRecord
from mediastudio.keys.models import ApiKey
from mediastudio.users.models import User, WebSession
from mediastudio.voices.models import CustomVoice
from mediastudio.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookSigningSecret

__all__ = [
    "Account",
    "ApiKey",
    "ChatMessageRow",
    "Conversation",
    "CreditGrantToken",
    "CustomVoice",
    "Generation",
    "IdempotencyRecord",
    "LedgerEntry",
    "StoredFile",
    "User",
    "WebSession",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSigningSecret",
]
