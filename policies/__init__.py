"""Policy as data: privacy, notifications, rooms, successors and the tenant settings schema.

Where it sits: the bottom layer beside :mod:`connectors`; pure (imports nothing of ours, no I/O), read by the
engine's stages.
"""
