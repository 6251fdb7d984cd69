"""API keys: hashed at rest, scoped, optionally IP-restricted and expiring."""
