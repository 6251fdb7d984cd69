"""Seed 001 ("Apex Studio"): POST /api/generate/{image,video,voice}, GET /api/jobs, /usage."""
