"""The write functions behind the REST API and the CLI: sessions, enrollments, people, tenants.

Where it sits: called inside a request's unit of work by :mod:`engine.api.routes`; the session ids they
touch are enqueued for a reconcile after the commit (:mod:`engine.store.unit_of_work`).
"""
