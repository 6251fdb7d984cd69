"""The voices speech engines offer: ``GET /api/v1/voices``."""
