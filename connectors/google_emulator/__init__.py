"""Google Workspace emulator: a real HTTP server speaking Calendar v3, Directory, Data Transfer and OAuth.

Where it sits: ``connectors`` layer, used by tests, ``muster demo`` and ``muster emulator``. The real
``google-api-python-client`` and ``google-auth`` talk to it over HTTP (see ``connectors.google.clients``).

Layout, one package per API plus the wiring around them:

* wiring: ``server.py`` (HTTP server, ``EmulatorServer``), ``app.py`` (ASGI assembly, :data:`app.MODULES`),
  ``asgi_util.py``, ``batch.py`` (batch endpoints of every API), ``errors.py`` (Google's error envelopes);
* the world: ``state.py`` (users, calendars, events, tokens) and ``seed.py`` (loading a Workspace);
* Google APIs: ``calendar/``, ``directory/``, ``datatransfer/``, ``oauth/``;
* around the Google routes: ``middleware/`` (faults, usage limits);
* not Google: ``control/`` (``/_emulator/`` control API and HTML pages).
"""
