"""The sync: the reconciler (load → plan → apply → record), the executor, the records and the sweep.

Where it sits: run by the ``reconcile_session`` actor (:mod:`engine.runtime.actors`) with a session id; talks
to Google only through the calendar port built by the composition root.
"""
