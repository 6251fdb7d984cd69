"""Seed 000 ("AI Visual Studio") as its document answers, under its own base URL
(docs/compat.md)."""
