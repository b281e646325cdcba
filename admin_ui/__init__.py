"""The admin UI: server-rendered pages for tenant admins, organizers and viewers.

Where it sits: the top layer (``admin_ui → engine → (policies | connectors)``). :mod:`admin_ui.web` builds the
whole web app (the REST API of :mod:`engine.api` mounted beside the pages); :mod:`admin_ui.views` holds one
module per page and :mod:`admin_ui.services` what the views ask of the engine.
"""
