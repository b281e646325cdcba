"""engine.delegation.placement."""
