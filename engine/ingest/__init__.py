"""engine.ingest.sessions."""
