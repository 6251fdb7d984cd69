"""Seed 002 ("AgentName"): POST /api/generate, GET /api/status/{jobId}, POST /api/chat."""
