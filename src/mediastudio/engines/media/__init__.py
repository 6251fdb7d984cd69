"""Media plumbing every built-in engine shares: reading and writing audio, images and video
safely (bounded, atomic, streamed), so an engine module holds only its own algorithm."""
