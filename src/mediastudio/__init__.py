"""MediaStudio: a self-hostable generative-media API platform."""

from mediastudio.webhooks.verify import WebhookVerificationError, verify_webhook

__version__ = "0.1.0"
__all__ = ["WebhookVerificationError", "__version__", "verify_webhook"]
