"""The ingest REST API (FastAPI): how a learning platform feeds Muster.

The factory is :func:`engine.api.app.create_api`; schemas, dependencies, error handling and routes live in
the modules beside it.
"""
