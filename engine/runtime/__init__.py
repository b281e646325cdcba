"""What runs the sync: the composition root (:mod:`engine.runtime.wiring`), broker, actors, worker, leases,
quota pacing, metrics and readiness probes.

Where it sits: between the entry points (CLI, web app, worker) and the engine's stages, which it assembles.
"""
