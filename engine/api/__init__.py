"""The ingest REST API (FastAPI): how a learning platform feeds Muster.

Where it sits: the first stage of the flow; its routes call :mod:`engine.ingest` inside a unit of work.
The factory is :func:`engine.api.app.create_api`; schemas, dependencies, error handling and routes live in
the modules beside it.
"""
