"""OAuth 2.0 of the emulator: token endpoint, consent page and the bearer check of every API call.

Where it sits: Google-facing feature package loaded by ``app.py``; ``auth.py`` holds the routes and
:func:`auth.authenticate`, which every API package calls first.
"""
