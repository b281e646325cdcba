"""Organizer lifecycle: detect organizers who leave or are suspended, and transfer their events.

Where it sits: ``engine`` layer, beside the reconciler. Detection (:mod:`.detect`: Directory scan,
errors seen during a reconcile, departures announced through the REST API via :mod:`.departure`) marks
people; :mod:`.transfer` moves each affected session's event to the successor chosen by
:mod:`policies.successor` and updates the session's :class:`~engine.store.models.CalendarBinding`, so the
next reconcile sees no drift. :mod:`.preview` and :mod:`.spof` answer "who would inherit what" and
"which sessions hang on one leaving person" from the same facts (:mod:`.facts`).
See ``docs/organizer-lifecycle.md``.
"""
