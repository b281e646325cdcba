"""ASGI middleware around the emulator's Google routes only: fault injection and usage limits.

Where it sits: ``wrap_google`` modules of ``app.py`` (``faults.py`` outermost, then ``quotas.py``);
configured through the control API. Never applied to ``/_emulator/`` routes.
"""
