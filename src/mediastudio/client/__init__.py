"""The MediaStudio Python SDK: ``Client`` and ``AsyncClient`` (docs/sdk.md).

Needs only httpx: importing it loads none of the server (FastAPI, SQLAlchemy, engines).
"""

from mediastudio.client.aio import AsyncClient, AsyncGeneration, AsyncOutput
from mediastudio.client.errors import (
    APIConnectionError,
    AuthenticationError,
    GenerationFailedError,
    InsufficientCreditsError,
    InvalidRequestError,
    MediaStudioError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from mediastudio.client.sync import Client, Generation, Output
from mediastudio.client.types import (
    ChatChunk,
    ChatCompletion,
    ChatReply,
    ChatUsage,
    Credits,
    Delivery,
    DeliveryAttempt,
    Event,
    File,
    JobError,
    Webhook,
)

__all__ = [
    "APIConnectionError",
    "AsyncClient",
    "AsyncGeneration",
    "AsyncOutput",
    "AuthenticationError",
    "ChatChunk",
    "ChatCompletion",
    "ChatReply",
    "ChatUsage",
    "Client",
    "Credits",
    "Delivery",
    "DeliveryAttempt",
    "Event",
    "File",
    "Generation",
    "GenerationFailedError",
    "InsufficientCreditsError",
    "InvalidRequestError",
    "JobError",
    "MediaStudioError",
    "NotFoundError",
    "Output",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "Webhook",
]
