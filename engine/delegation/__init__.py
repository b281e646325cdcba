"""Organizer delegation: whose calendar holds a session's event, Meet links, rooms, OAuth, the mode switch.

Where it sits: called by the reconciler through the hooks the composition root installs
(:class:`engine.delegation.hooks.DelegationHooks`, built by :func:`engine.runtime.wiring.delegation_hooks`).
"""
