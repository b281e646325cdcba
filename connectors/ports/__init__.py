"""connectors.ports.calendar."""
