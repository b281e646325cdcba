"""Route modules of the ingest REST API, one per resource (sessions, enrollments, health)."""
