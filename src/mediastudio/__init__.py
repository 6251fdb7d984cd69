"""MediaStudio: a self-hostable generative-media API platform."""

__version__ = "0.1.0"
