"""Domain-free infrastructure: database, ids, errors, rate limits, storage, event bus."""
