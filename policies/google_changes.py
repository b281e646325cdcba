"""Google-side change policy: what Muster does when someone edits or deletes a Muster event in Google.

Where it sits: pure policy-as-data, read by :mod:`engine.sync.reconciler` (through
:mod:`engine.domain.google_changes`) whenever it sees that the event differs from what Muster last wrote.
Imports nothing from the project but :mod:`policies.schema`. Tenant setting
(``Tenant.settings["google_changes"]``), declared once by :class:`GoogleChangeSettings`::

    {"edits": "platform_wins", "deleted": "recreate"}   # the defaults

* ``edits``: a time, title, description, location or guest list changed in Google (an organizer moving the
  session, a guest added by hand). ``platform_wins``: the next reconcile writes the platform's values back
  (audited ``session.changed_in_google`` with ``outcome: restored``). ``report_only``: the edit is kept and
  reported (``outcome: kept``); Muster still writes what the platform changes afterwards, field by field,
  and adds or removes only the guests the platform added or removed.
* ``deleted``: the event was deleted in Google. ``recreate``: it is brought back (same id, same guests and
  their answers). ``flag``: it stays deleted and the session is marked ``blocked`` with error class
  ``google_deleted`` until an admin recreates it (``muster reconcile --session ID --recreate``) or the
  policy changes.

Never a loop: only a difference from the event as Muster last wrote or read it (its etag) counts, so
Muster's own writes are never reported or undone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from policies.schema import SettingsSection

Edits = Literal["platform_wins", "report_only"]
Deleted = Literal["recreate", "flag"]


class GoogleChangeSettings(SettingsSection):
    """``Tenant.settings["google_changes"]``."""

    section: ClassVar[str] = "google_changes"
    not_object: ClassVar[str] = 'must be an object like {"edits": "platform_wins", "deleted": "recreate"}'

    edits: Edits = Field(
        default="platform_wins",
        description="An edit made in Google to a Muster event: platform_wins (restored) or report_only (kept).",
    )
    deleted: Deleted = Field(
        default="recreate",
        description="A Muster event deleted in Google: recreate it, or flag the session and leave it deleted.",
    )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> GoogleChangeSettings:
        return cls.parse(settings)
