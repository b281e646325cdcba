"""engine.demo.main."""
