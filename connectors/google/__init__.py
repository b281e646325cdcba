"""Muster's Google connector: builds real Google API clients (``clients``) for Google or the emulator.

Where it sits: ``connectors`` layer; the only package (with the emulator) allowed to import
``googleapiclient`` and ``google_auth_httplib2``.
"""
