"""The ports: the Protocols and value types the engine depends on instead of Google's clients.

Where it sits: ``connectors``, imported by the engine; :mod:`connectors.ports.calendar` (events),
:mod:`connectors.ports.delegation` (consent, probes, rooms, credentials), :mod:`connectors.ports.lifecycle`
(Directory users, Data Transfer, calendar sharing); :mod:`connectors.google` implements them.
"""
