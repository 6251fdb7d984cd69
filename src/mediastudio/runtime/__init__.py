"""Running jobs: the dispatcher (which worker runs what), the runner (one job's lifecycle),
the sweeper (recovery of lost and forgotten jobs)."""
