"""engine.runtime.wiring."""
