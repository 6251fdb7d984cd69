"""fal: the queue API (:mod:`.client`) and how our inputs map to its models' (:mod:`.mapping`)."""
