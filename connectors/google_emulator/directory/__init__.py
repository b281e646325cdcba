"""Admin SDK Directory API of the emulator (users, calendar resources, buildings, features).

Where it sits: Google-facing feature package loaded by ``app.py``; routes in ``api.py``. The Data
Transfer package reuses its admin check and paging helpers.
"""
