"""engine.domain."""
