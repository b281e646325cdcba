"""The emulator's own surface (not Google's): ``/_emulator/...`` control API and read-only pages.

Where it sits: ``control_routes`` packages of ``app.py``, never wrapped by the fault/quota middleware
and never Google-authenticated. ``api.py`` is the JSON control API, ``pages.py`` the HTML views.
"""
