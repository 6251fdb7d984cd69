"""Chat: interactive answers from hosted or self-hosted chat models, outside the job queue."""
