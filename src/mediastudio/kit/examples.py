"""Values the request bodies' OpenAPI examples share.

Swagger UI's "Try it out" sends a body's example as it is, so every example must be a request
the server accepts (tests/api/test_openapi_examples.py posts each one with a sandbox key). Media
inputs are a ``data:`` URI where that stays short, so the example also runs under a live key
with no network; videos are too large for that and name a URL instead.
"""

from __future__ import annotations

import base64
import io
import wave

# A 64x64 PNG of a red disc on white (195 bytes): a product on a plain background.
EXAMPLE_IMAGE = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAEAAAABAAQMAAACQp+OdAAAABlBMVEX////cKCi5uRl6"
    "AAAAeElEQVR42sXQsQ2DUBRD0YNBCl0YgWxCNsqIfxRGoKRAkAIloaBKgyvr+tnF42rdZwSv2w6qbSuE0BMaOkJL"
    "S+hoDgdhoKKmoCr5zEcFgwP5mkB/Gv1nVhhPow3Kj9QYeAqFjTCyEiYWwsxMWJgIK+NeNzwOP7xEb5q2F+9MM1J5"
    "AAAAAElFTkSuQmCC"
)
# example.com is reserved for documentation (RFC 2606): it never belongs to a real customer.
EXAMPLE_VIDEO_URL = "https://example.com/media/product-demo.mp4"
EXAMPLE_WEBHOOK_URL = "https://example.com/webhooks/mediastudio"


def _silent_wav(seconds: float = 0.05, rate: int = 8000) -> str:
    """A short WAV of silence (8-bit mono) as a ``data:`` URI: a voice sample the server takes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(rate)
        writer.writeframes(b"\x80" * round(seconds * rate))
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


# 50 ms of silence as a WAV (about 600 characters): a cloning example that runs with no upload.
EXAMPLE_AUDIO = _silent_wav()
