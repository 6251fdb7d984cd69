"""Seed 001 ("Apex Studio"): its /api/generate/*, /api/jobs, /api/usage and /api/settings."""
