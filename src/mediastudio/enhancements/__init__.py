"""Product photo enhancement batches (seed 004): presets, batch create, batch status."""
