"""Admin SDK Data Transfer API of the emulator (calendar ownership transfers).

Where it sits: Google-facing feature package loaded by ``app.py``; routes and the transfer job in ``api.py``.
"""
