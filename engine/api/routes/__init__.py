"""Route modules of the ingest REST API, one per resource (sessions, enrollments, people, health).

Where it sits: included by :func:`engine.api.app.create_api`; each route validates, then calls :mod:`engine.ingest`.
"""
