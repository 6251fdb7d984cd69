"""ElevenLabs: neural speech (``eleven_multilingual_v2``, ``eleven_flash_v2_5``) and the
account's voices, synchronous calls; see docs/providers/elevenlabs.md."""
