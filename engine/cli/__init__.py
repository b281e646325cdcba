"""The ``muster`` command line: :mod:`engine.cli.main` is the entry point; every other module here adds
commands through ``register(group)`` (picked up by the entry point's plugin loader).

Where it sits: an entry point, like the web app and the worker; commands build what they need through
the composition root (:mod:`engine.runtime.wiring`).
"""
