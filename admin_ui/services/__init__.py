"""What the admin UI's views ask of the engine: connection check, mode switch, room picker, room names,
the session form, the set-up forms and the sync metrics.

Where it sits: between :mod:`admin_ui.views` (which render) and :mod:`engine` (which does the work); the Google
implementation comes from the composition root (:mod:`engine.runtime.wiring`).
"""
