"""Generations: the asynchronous jobs clients create, poll, cancel, retry and delete."""
