"""The pure core: session facts, desired state, the plan, event ids and the ownership marker, Meet, recurrence.

Where it sits: between loading (:mod:`engine.sync.load`) and applying (:mod:`engine.sync.apply`); imports no
database, queue, HTTP or Google code (import-linter contract "The domain is pure").
"""
