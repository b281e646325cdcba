"""Admin views, one module per area; each returns ``render(request, "admin/<area>/<page>.html", ctx)``.

Where it sits: routers included by :func:`admin_ui.web.create_web_app` under ``/admin``. Reads go through
:mod:`engine.admin.queries`; writes through the engine's data functions, inside one unit of work per
request, followed by a flash and a 303 (POST → redirect → GET).
"""
