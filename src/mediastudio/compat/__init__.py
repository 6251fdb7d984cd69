"""Seed-compatible surfaces: the paths and shapes of the hosted services MediaStudio replaces,
as thin adapters over the same services (docs/compat.md)."""
