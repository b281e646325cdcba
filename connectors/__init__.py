"""Everything that talks to Google, behind the ports the engine depends on.

Where it sits: the bottom layer, beside :mod:`policies`. :mod:`connectors.ports` holds the Protocols,
:mod:`connectors.google` the real clients (the only code importing googleapiclient),
:mod:`connectors.google_emulator` the Google Workspace emulator, :mod:`connectors.discovery` the discovery
documents both use, and :mod:`connectors.errors` the error classes the engine sees.
"""
