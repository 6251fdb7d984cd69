"""OpenAI: images (``gpt-image-1``, ``dall-e-3``) and neural speech (``gpt-4o-mini-tts``,
``tts-1``), synchronous calls; see docs/providers/openai.md."""
