"""Idempotency-Key: one request's effect, however often it is retried."""
