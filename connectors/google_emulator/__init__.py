"""Google Workspace emulator: a real HTTP server speaking Calendar v3, Directory, Data Transfer and OAuth.

Where it sits: ``connectors`` layer, used by tests, ``muster demo`` and ``muster emulator``. The real
``google-api-python-client`` and ``google-auth`` talk to it over HTTP (see ``connectors.google.clients``).
Start with ``server.EmulatorServer``; the world model lives in ``state.py``, app assembly in ``app.py``.
"""
