"""Replicate: the HTTP protocol (:mod:`.client`) and how our inputs map to its models'
(:mod:`.mapping`)."""
